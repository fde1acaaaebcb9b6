#include "runtime/tensor.hpp"

#include <fmt/ranges.h>

#include <cstring>
#include <limits>

#include "common/error.hpp"
#include "common/memory.hpp"
#include "runtime/float_convert.hpp"
#include "runtime/tensor_elements.hpp"

// Factories, metadata, views and element access. Copies live in tensor_copy.cpp, printing
// in tensor_print.cpp.

namespace qjit {

namespace tensor_detail {

float load_f32(const std::byte* p, DType dtype) {
  switch (dtype) {
    case DType::kF32: {
      float v;
      std::memcpy(&v, p, sizeof v);
      return v;
    }
    case DType::kF16: {
      std::uint16_t h;
      std::memcpy(&h, p, sizeof h);
      return f16_to_f32(h);
    }
    case DType::kBF16: {
      std::uint16_t h;
      std::memcpy(&h, p, sizeof h);
      return bf16_to_f32(h);
    }
    case DType::kE4M3: return e4m3_to_f32(static_cast<std::uint8_t>(*p));
    case DType::kE5M2: return e5m2_to_f32(static_cast<std::uint8_t>(*p));
    case DType::kI8: return static_cast<float>(static_cast<std::int8_t>(*p));
    case DType::kI32: {
      std::int32_t v;
      std::memcpy(&v, p, sizeof v);
      return static_cast<float>(v);
    }
  }
  QJIT_THROW("runtime", "invalid DType value {}", static_cast<int>(dtype));
}

void store_f32(std::byte* p, DType dtype, float value, bool satfinite) {
  switch (dtype) {
    case DType::kF32: std::memcpy(p, &value, sizeof value); return;
    case DType::kF16: {
      const std::uint16_t h = f32_to_f16(value);
      std::memcpy(p, &h, sizeof h);
      return;
    }
    case DType::kBF16: {
      const std::uint16_t h = f32_to_bf16(value);
      std::memcpy(p, &h, sizeof h);
      return;
    }
    case DType::kE4M3: *p = static_cast<std::byte>(f32_to_e4m3(value, satfinite)); return;
    case DType::kE5M2: *p = static_cast<std::byte>(f32_to_e5m2(value, satfinite)); return;
    case DType::kI8:
    case DType::kI32: break;
  }
  QJIT_THROW("runtime", "cannot store an f32 value as {}: not a float dtype", dtype_name(dtype));
}

}  // namespace tensor_detail

namespace {

using tensor_detail::for_each_offset;

std::vector<std::int64_t> contiguous_strides(const std::vector<std::int64_t>& shape) {
  std::vector<std::int64_t> strides(shape.size());
  std::int64_t s = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

// Product of a shape, rejecting negative sizes and element counts whose byte size would
// overflow.
std::int64_t checked_numel(const std::vector<std::int64_t>& shape, DType dtype) {
  const auto limit = std::numeric_limits<std::int64_t>::max() / static_cast<std::int64_t>(dtype_size(dtype));
  std::int64_t n = 1;
  for (std::int64_t s : shape) {
    QJIT_CHECK_GEN("runtime", s >= 0, "negative size in shape [{}]", fmt::join(shape, ", "));
    if (s != 0 && n > limit / s) QJIT_THROW("runtime", "shape [{}] is too large", fmt::join(shape, ", "));
    n *= s;
  }
  return n;
}

}  // namespace

Tensor::Tensor(std::shared_ptr<Storage> storage, std::vector<std::int64_t> shape,
               std::vector<std::int64_t> strides, std::int64_t offset, DType dtype)
    : storage_(std::move(storage)),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      offset_(offset),
      dtype_(dtype) {}

const std::shared_ptr<Driver>& Tensor::driver() const {
  static const std::shared_ptr<Driver> kNone;
  return storage_ ? storage_->driver() : kNone;
}

bool Tensor::holds_values() const {
  const auto& d = driver();
  return d == nullptr || d->holds_values();
}

// --- factories ----------------------------------------------------------------------------

Tensor Tensor::empty(std::vector<std::int64_t> shape, DType dtype, const Device& device) {
  return empty(std::move(shape), dtype, device, nullptr);
}

Tensor Tensor::empty(std::vector<std::int64_t> shape, DType dtype, const Device& device,
                     std::shared_ptr<Driver> driver) {
  const std::int64_t n = checked_numel(shape, dtype);
  const std::size_t bytes = static_cast<std::size_t>(n) * dtype_size(dtype);
  // NOTE: the sim's device memory is host memory too; a GPU's is checked by its driver.
  if (device.kind != DeviceKind::kCuda) {
    check_host_memory(bytes, fmt::format("a [{}] {} tensor on {}", fmt::join(shape, ", "), dtype_name(dtype),
                                         device.str()),
                      "runtime");
  }
  std::shared_ptr<Storage> storage;
  if (device.is_host()) {
    storage = Storage::allocate(bytes, device, nullptr);
  } else if (driver != nullptr) {
    storage = Storage::allocate(bytes, device, std::move(driver));
  } else {
    storage = Storage::allocate(bytes, device);  // driver_for(device)
  }
  std::vector<std::int64_t> strides = contiguous_strides(shape);
  return Tensor(std::move(storage), std::move(shape), std::move(strides), 0, dtype);
}

Tensor Tensor::zeros(std::vector<std::int64_t> shape, DType dtype, const Device& device) {
  return zeros(std::move(shape), dtype, device, nullptr);
}

Tensor Tensor::zeros(std::vector<std::int64_t> shape, DType dtype, const Device& device,
                     std::shared_ptr<Driver> driver) {
  Tensor t = empty(std::move(shape), dtype, device, std::move(driver));
  const std::size_t bytes = t.nbytes();
  if (bytes == 0) return t;
  // NOTE: all-zero bytes are +0 in every dtype, so a byte fill is a value fill.
  if (device.is_host()) {
    std::memset(t.raw_data_ptr(), 0, bytes);
  } else {
    t.storage_->driver()->memset8(t.device_ptr(), 0, bytes);
  }
  return t;
}

Tensor Tensor::from_f32(std::vector<std::int64_t> shape, std::span<const float> values, DType dtype,
                        bool satfinite) {
  QJIT_CHECK_GEN("runtime", is_float(dtype), "from_f32 makes float tensors, not {} (use from_i64)",
                 dtype_name(dtype));
  Tensor t = empty(std::move(shape), dtype);
  QJIT_CHECK_GEN("runtime", static_cast<std::int64_t>(values.size()) == t.numel(),
                 "{} values given for {} ({} elements)", values.size(), t.describe(), t.numel());
  auto* out = static_cast<std::byte*>(t.raw_data_ptr());
  const std::size_t es = t.element_size();
  for (std::size_t i = 0; i < values.size(); ++i)
    tensor_detail::store_f32(out + i * es, dtype, values[i], satfinite);
  return t;
}

Tensor Tensor::from_i64(std::vector<std::int64_t> shape, std::span<const std::int64_t> values, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  QJIT_CHECK_GEN("runtime", static_cast<std::int64_t>(values.size()) == t.numel(),
                 "{} values given for {} ({} elements)", values.size(), t.describe(), t.numel());
  auto* out = static_cast<std::byte*>(t.raw_data_ptr());
  for (std::size_t i = 0; i < values.size(); ++i) {
    const std::int64_t v = values[i];
    switch (dtype) {
      case DType::kI8: {
        QJIT_CHECK_GEN("runtime", v >= -128 && v <= 127, "value {} at index {} does not fit int8", v, i);
        out[i] = static_cast<std::byte>(static_cast<std::int8_t>(v));
        break;
      }
      case DType::kI32: {
        QJIT_CHECK_GEN(
            "runtime",
            v >= std::numeric_limits<std::int32_t>::min() && v <= std::numeric_limits<std::int32_t>::max(),
            "value {} at index {} does not fit int32", v, i);
        const auto w = static_cast<std::int32_t>(v);
        std::memcpy(out + i * sizeof w, &w, sizeof w);
        break;
      }
      default: tensor_detail::store_f32(out + i * t.element_size(), dtype, static_cast<float>(v), false);
    }
  }
  return t;
}

Tensor Tensor::from_raw(std::vector<std::int64_t> shape, DType dtype, const void* data) {
  Tensor t = empty(std::move(shape), dtype);
  if (t.nbytes() > 0) {
    QJIT_CHECK_GEN("runtime", data != nullptr, "from_raw: null data for {}", t.describe());
    std::memcpy(t.raw_data_ptr(), data, t.nbytes());
  }
  return t;
}

Tensor Tensor::from_storage(std::shared_ptr<Storage> storage, std::vector<std::int64_t> shape,
                            std::vector<std::int64_t> strides, std::int64_t offset, DType dtype) {
  QJIT_CHECK_GEN("runtime", storage != nullptr, "from_storage: null storage");
  QJIT_CHECK_GEN("runtime", strides.size() == shape.size(), "from_storage: {} strides for shape [{}]",
                 strides.size(), fmt::join(shape, ", "));
  QJIT_CHECK_GEN("runtime", offset >= 0, "from_storage: negative offset {}", offset);
  for (std::int64_t s : strides) QJIT_CHECK_GEN("runtime", s >= 0, "from_storage: negative stride {}", s);
  Tensor t(std::move(storage), std::move(shape), std::move(strides), offset, dtype);
  if (checked_numel(t.shape_, dtype) > 0) {
    const auto end_bytes = static_cast<std::size_t>(offset + t.span_elements()) * t.element_size();
    QJIT_CHECK_GEN("runtime", end_bytes <= t.storage_->bytes(),
                   "from_storage: {} with strides [{}] and offset {} needs {} bytes, the storage has {}",
                   t.describe(), fmt::join(t.strides_, ", "), offset, end_bytes, t.storage_->bytes());
  }
  return t;
}

// --- metadata -------------------------------------------------------------------------------

void Tensor::check_defined(const char* op) const {
  QJIT_CHECK_GEN("runtime", defined(), "{} on an undefined tensor", op);
}

std::int64_t Tensor::wrap_dim(std::int64_t dim, const char* op) const {
  check_defined(op);
  const std::int64_t n = this->dim();
  QJIT_CHECK_GEN("runtime", dim >= -n && dim < n, "{}: dim {} out of range for {}", op, dim, describe());
  return dim < 0 ? dim + n : dim;
}

std::int64_t Tensor::size(std::int64_t dim) const { return shape_[wrap_dim(dim, "size")]; }
std::int64_t Tensor::stride(std::int64_t dim) const { return strides_[wrap_dim(dim, "stride")]; }

std::int64_t Tensor::numel() const {
  if (!defined()) return 0;
  std::int64_t n = 1;
  for (std::int64_t s : shape_) n *= s;
  return n;
}

Device Tensor::device() const { return defined() ? storage_->device() : Device::cpu(); }

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;
  std::int64_t expected = 1;
  for (std::size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expected) return false;
    expected *= shape_[i];
  }
  return true;
}

std::int64_t Tensor::span_elements() const {
  if (numel() == 0) return 0;
  std::int64_t last = 0;
  for (std::size_t i = 0; i < shape_.size(); ++i) last += (shape_[i] - 1) * strides_[i];
  return last + 1;
}

// --- views ----------------------------------------------------------------------------------

Tensor Tensor::slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step) const {
  const std::int64_t d = wrap_dim(dim, "slice");
  QJIT_CHECK_GEN("runtime", step >= 1, "slice: step {} must be >= 1 ({})", step, describe());
  QJIT_CHECK_GEN("runtime", 0 <= start && start <= end && end <= shape_[d],
                 "slice: [{}, {}) out of range for dim {} of size {} in {}", start, end, d, shape_[d],
                 describe());
  Tensor t = *this;
  t.shape_[d] = (end - start + step - 1) / step;
  t.offset_ = offset_ + start * strides_[d];
  t.strides_[d] = strides_[d] * step;
  return t;
}

Tensor Tensor::narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const {
  QJIT_CHECK_GEN("runtime", length >= 0, "narrow: negative length {} for {}", length, describe());
  return slice(dim, start, start + length);
}

Tensor Tensor::select(std::int64_t dim, std::int64_t index) const {
  const std::int64_t d = wrap_dim(dim, "select");
  QJIT_CHECK_GEN("runtime", 0 <= index && index < shape_[d],
                 "select: index {} out of range for dim {} of size {} in {}", index, d, shape_[d],
                 describe());
  Tensor t = *this;
  t.offset_ = offset_ + index * strides_[d];
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::view(std::vector<std::int64_t> shape) const {
  check_defined("view");
  QJIT_CHECK_GEN("runtime", is_contiguous(),
                 "view needs a contiguous tensor, {} has strides [{}] (use reshape)", describe(),
                 fmt::join(strides_, ", "));
  std::int64_t known = 1;
  std::int64_t infer = -1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      QJIT_CHECK_GEN("runtime", infer < 0, "view: more than one -1 in [{}]", fmt::join(shape, ", "));
      infer = static_cast<std::int64_t>(i);
    } else {
      QJIT_CHECK_GEN("runtime", shape[i] >= 0, "view: bad size {} in [{}]", shape[i], fmt::join(shape, ", "));
      known *= shape[i];
    }
  }
  const std::int64_t n = numel();
  if (infer >= 0) {
    QJIT_CHECK_GEN("runtime", known != 0 && n % known == 0, "view: cannot infer -1 in [{}] for {}",
                   fmt::join(shape, ", "), describe());
    shape[infer] = n / known;
    known = n;
  }
  QJIT_CHECK_GEN("runtime", known == n, "view: shape [{}] has {} elements, {} has {}", fmt::join(shape, ", "),
                 known, describe(), n);
  Tensor t = *this;
  t.strides_ = contiguous_strides(shape);
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::reshape(std::vector<std::int64_t> shape) const {
  check_defined("reshape");
  return is_contiguous() ? view(std::move(shape)) : contiguous().view(std::move(shape));
}

Tensor Tensor::transpose(std::int64_t dim0, std::int64_t dim1) const {
  const std::int64_t a = wrap_dim(dim0, "transpose");
  const std::int64_t b = wrap_dim(dim1, "transpose");
  Tensor t = *this;
  std::swap(t.shape_[a], t.shape_[b]);
  std::swap(t.strides_[a], t.strides_[b]);
  return t;
}

Tensor Tensor::permute(const std::vector<std::int64_t>& dims) const {
  check_defined("permute");
  QJIT_CHECK_GEN("runtime", static_cast<std::int64_t>(dims.size()) == dim(),
                 "permute: [{}] is not a permutation of {} dims of {}", fmt::join(dims, ", "), dim(),
                 describe());
  std::vector<bool> seen(dims.size(), false);
  Tensor t = *this;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const std::int64_t d = wrap_dim(dims[i], "permute");
    QJIT_CHECK_GEN("runtime", !seen[d], "permute: [{}] repeats dim {}", fmt::join(dims, ", "), d);
    seen[d] = true;
    t.shape_[i] = shape_[d];
    t.strides_[i] = strides_[d];
  }
  return t;
}

// --- element access -------------------------------------------------------------------------

void* Tensor::raw_data_ptr() const {
  check_defined("raw_data_ptr");
  QJIT_CHECK_GEN("runtime", device().is_host(),
                 "host data pointer of {} requested, but it lives on {}: use device_ptr() or copy it with "
                 ".to(Device::cpu())",
                 describe(), device().str());
  return static_cast<std::byte*>(storage_->host_ptr()) + offset_ * static_cast<std::int64_t>(element_size());
}

void Tensor::check_element_type(std::size_t size, std::optional<DType> exact) const {
  check_defined("data_ptr");
  if (exact) {
    QJIT_CHECK_GEN("runtime", *exact == dtype_, "data_ptr<{}> requested for {}", dtype_name(*exact),
                   describe());
  } else {
    QJIT_CHECK_GEN("runtime", size == element_size(),
                   "data_ptr of a {}-byte type requested for {} ({}-byte elements)", size, describe(),
                   element_size());
  }
}

DevicePtr Tensor::device_ptr() const {
  check_defined("device_ptr");
  QJIT_CHECK_GEN("runtime", !device().is_host(),
                 "device pointer of {} requested, but it lives on the cpu: use data_ptr()", describe());
  return storage_->device_ptr() + static_cast<DevicePtr>(offset_) * element_size();
}

float Tensor::item_f32_at(std::span<const std::int64_t> index) const {
  check_defined("item_f32");
  QJIT_CHECK_GEN("runtime", static_cast<std::int64_t>(index.size()) == dim(), "item_f32: {} indices for {}",
                 index.size(), describe());
  std::int64_t off = offset_;
  for (std::size_t i = 0; i < index.size(); ++i) {
    QJIT_CHECK_GEN("runtime", 0 <= index[i] && index[i] < shape_[i],
                   "item_f32: index {} out of range for dim {} of {}", index[i], i, describe());
    off += index[i] * strides_[i];
  }
  const std::size_t es = element_size();
  if (device().is_host()) {
    return tensor_detail::load_f32(static_cast<const std::byte*>(storage_->host_ptr()) + off * es, dtype_);
  }
  std::array<std::byte, 8> buf{};
  storage_->driver()->copy_to_host(buf.data(), storage_->device_ptr() + static_cast<DevicePtr>(off) * es, es);
  return tensor_detail::load_f32(buf.data(), dtype_);
}

std::vector<float> Tensor::to_f32_vector() const {
  check_defined("to_f32_vector");
  if (!device().is_host()) return to(Device::cpu()).to_f32_vector();
  std::vector<float> out;
  out.reserve(static_cast<std::size_t>(numel()));
  const auto* base = static_cast<const std::byte*>(storage_->host_ptr());
  const std::size_t es = element_size();
  for_each_offset(shape_, strides_, offset_,
                  [&](std::int64_t off) { out.push_back(tensor_detail::load_f32(base + off * es, dtype_)); });
  return out;
}

Tensor Tensor::to_dtype(DType dtype, bool satfinite) const {
  check_defined("to_dtype");
  QJIT_CHECK_GEN("runtime", device().is_host(),
                 "to_dtype runs on the cpu, {} lives on {}: copy it with .to(Device::cpu())", describe(),
                 device().str());
  QJIT_CHECK_GEN("runtime", is_float(dtype), "to_dtype converts to float dtypes, not {} ({})",
                 dtype_name(dtype), describe());
  if (dtype == dtype_) return *this;
  Tensor out = empty(shape_, dtype, device());  // NOTE: cpu or cpu:ref, as the input
  const auto* src = static_cast<const std::byte*>(storage_->host_ptr());
  auto* dst = static_cast<std::byte*>(out.raw_data_ptr());
  const std::size_t ies = element_size();
  const std::size_t oes = out.element_size();
  // Widening to f32 is exact, so each element is rounded exactly once.
  std::size_t i = 0;
  for_each_offset(shape_, strides_, offset_, [&](std::int64_t off) {
    tensor_detail::store_f32(dst + (i++) * oes, dtype, tensor_detail::load_f32(src + off * ies, dtype_),
                             satfinite);
  });
  return out;
}

}  // namespace qjit
