#include <cstring>

#include "common/error.hpp"
#include "runtime/tensor.hpp"
#include "runtime/tensor_elements.hpp"

// Copies between tensors on any devices. Host <-> device traffic goes through the Driver's
// copy functions only, so cuda, sim and test drivers all take the same path. Strided device
// views are moved as the contiguous storage span they cover and rearranged on the host.

namespace qjit {

namespace {

// dst[i] = src[i] for every index; both on the cpu, same shape and dtype, no overlap.
void host_copy(const Tensor& dst, const Tensor& src) {
  const std::size_t es = dst.element_size();
  if (dst.is_contiguous() && src.is_contiguous()) {
    std::memcpy(dst.raw_data_ptr(), src.raw_data_ptr(), dst.nbytes());
    return;
  }
  // Walk the destination in row-major order and read the source from a contiguous copy of
  // its offsets, which keeps one strided loop instead of a two-tensor odometer.
  std::vector<std::int64_t> src_offsets;
  src_offsets.reserve(static_cast<std::size_t>(src.numel()));
  tensor_detail::for_each_offset(src.shape(), src.strides(), 0,
                                 [&](std::int64_t off) { src_offsets.push_back(off); });
  const auto* s = static_cast<const std::byte*>(src.raw_data_ptr());
  auto* d = static_cast<std::byte*>(dst.raw_data_ptr());
  std::size_t i = 0;
  tensor_detail::for_each_offset(dst.shape(), dst.strides(), 0, [&](std::int64_t off) {
    std::memcpy(d + off * es, s + src_offsets[i++] * es, es);
  });
}

}  // namespace

Tensor Tensor::span_to_host() const {
  const std::size_t bytes = static_cast<std::size_t>(span_elements()) * element_size();
  Tensor mirror(Storage::allocate(bytes, Device::cpu(), nullptr), shape_, strides_, 0, dtype_);
  if (bytes > 0) storage_->driver()->copy_to_host(mirror.storage_->host_ptr(), device_ptr(), bytes);
  return mirror;
}

void Tensor::span_from_host(const Tensor& mirror) {
  const std::size_t bytes = static_cast<std::size_t>(span_elements()) * element_size();
  if (bytes > 0) storage_->driver()->copy_to_device(device_ptr(), mirror.storage_->host_ptr(), bytes);
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_defined("copy_");
  QJIT_CHECK_GEN("runtime", src.defined(), "copy_ into {} from an undefined tensor", describe());
  QJIT_CHECK_GEN("runtime", src.dtype_ == dtype_ && src.shape_ == shape_,
                 "copy_ into {} from {}: dtype and shape must match", describe(), src.describe());
  if (numel() == 0) return *this;
  if (shares_storage(src)) {
    if (src.offset_ == offset_ && src.strides_ == strides_) return *this;
    // Overlapping views would read elements already overwritten: copy the source first.
    return copy_(src.clone());
  }
  const bool dst_host = device().is_host();
  const bool src_host = src.device().is_host();
  if (dst_host && src_host) {
    host_copy(*this, src);
    return *this;
  }
  const std::size_t bytes = nbytes();
  if (is_contiguous() && src.is_contiguous()) {
    if (dst_host) {
      src.storage_->driver()->copy_to_host(raw_data_ptr(), src.device_ptr(), bytes);
      return *this;
    }
    if (src_host) {
      storage_->driver()->copy_to_device(device_ptr(), src.raw_data_ptr(), bytes);
      return *this;
    }
    if (storage_->driver() == src.storage_->driver()) {
      storage_->driver()->copy_device(device_ptr(), src.device_ptr(), bytes);
      return *this;
    }
  }
  // Everything else goes through a host image of the source.
  const Tensor s = src_host ? src : src.span_to_host();
  if (dst_host) {
    host_copy(*this, s);
  } else if (is_contiguous()) {
    const Tensor c = s.contiguous();
    storage_->driver()->copy_to_device(device_ptr(), c.raw_data_ptr(), bytes);
  } else {
    Tensor mirror = span_to_host();
    host_copy(mirror, s);
    span_from_host(mirror);
  }
  return *this;
}

Tensor Tensor::clone() const {
  check_defined("clone");
  Tensor out = empty(shape_, dtype_, device(), storage_->driver());
  out.copy_(*this);
  return out;
}

Tensor Tensor::contiguous() const {
  check_defined("contiguous");
  return is_contiguous() ? *this : clone();
}

Tensor Tensor::to(const Device& device) const { return to(device, nullptr); }

Tensor Tensor::to(const Device& device, std::shared_ptr<Driver> driver) const {
  check_defined("to");
  // NOTE: two drivers of one device kind (two sim devices of different archs) are different
  // devices: a tensor on the other one is copied.
  const bool here = device == this->device() && (device.is_host() || driver == nullptr || storage_->driver() == driver);
  if (here) return *this;
  Tensor out = empty(shape_, dtype_, device, std::move(driver));
  out.copy_(*this);
  return out;
}

}  // namespace qjit
