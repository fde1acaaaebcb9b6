#pragma once
// Tensor: a strided view (shape, strides in elements, storage offset, dtype) of a Storage
// shared with every other view of it. Views never copy; contiguous(), to(), to_dtype() and
// clone() do. Host accessors work on cpu tensors; a device tensor hands out its DevicePtr.

#include <array>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/device.hpp"
#include "runtime/driver.hpp"
#include "common/dtype.hpp"
#include "runtime/storage.hpp"

namespace qjit {

/// The dtype a host value type converts to by default in Tensor::from_vector:
/// floating point -> f32, int8_t -> int8, other integers -> int32.
template <typename T>
constexpr DType default_dtype_of() {
  if constexpr (std::is_floating_point_v<T>) {
    return DType::kF32;
  } else if constexpr (std::is_same_v<T, std::int8_t>) {
    return DType::kI8;
  } else {
    static_assert(std::is_integral_v<T>, "from_vector takes arithmetic values");
    return DType::kI32;
  }
}

class Tensor {
 public:
  /// An undefined tensor (no storage); most operations on it throw.
  Tensor() = default;

  // --- factories ------------------------------------------------------------------------
  /// Uninitialized contiguous tensor; a non-host device's memory comes from driver_for(device).
  static Tensor empty(std::vector<std::int64_t> shape, DType dtype, const Device& device = Device::cpu());
  /// As above with an explicit driver for a non-host device (ignored, and may be null, for cpu).
  static Tensor empty(std::vector<std::int64_t> shape, DType dtype, const Device& device,
                      std::shared_ptr<Driver> driver);
  static Tensor zeros(std::vector<std::int64_t> shape, DType dtype, const Device& device = Device::cpu());
  static Tensor zeros(std::vector<std::int64_t> shape, DType dtype, const Device& device,
                      std::shared_ptr<Driver> driver);
  /// A cpu tensor holding f32 `values` (row-major) converted to the float dtype `dtype`
  /// with RNE (fp8 overflow per `satfinite`, see float_convert.hpp).
  static Tensor from_f32(std::vector<std::int64_t> shape, std::span<const float> values,
                         DType dtype = DType::kF32, bool satfinite = false);
  /// A cpu tensor of integer `values`: exact into int8/int32 (out-of-range values throw),
  /// through f32 into a float dtype.
  static Tensor from_i64(std::vector<std::int64_t> shape, std::span<const std::int64_t> values, DType dtype);
  /// A cpu tensor from host values: floating-point values go through f32 (from_f32),
  /// integers through from_i64. E.g. `Tensor::from_vector<float>({2, 3}, v, DType::kBF16)`.
  template <typename T>
  static Tensor from_vector(std::vector<std::int64_t> shape, const std::vector<T>& values,
                            DType dtype = default_dtype_of<T>()) {
    if constexpr (std::is_floating_point_v<T>) {
      const std::vector<float> f(values.begin(), values.end());
      return from_f32(std::move(shape), f, dtype);
    } else {
      static_assert(std::is_integral_v<T>, "from_vector takes arithmetic values");
      const std::vector<std::int64_t> i(values.begin(), values.end());
      return from_i64(std::move(shape), i, dtype);
    }
  }
  /// A cpu tensor copying numel * dtype_size(dtype) bytes of already encoded elements
  /// (e.g. bf16 bit patterns), row-major.
  static Tensor from_raw(std::vector<std::int64_t> shape, DType dtype, const void* data);
  /// A view of an existing storage; throws unless every element lies inside it.
  static Tensor from_storage(std::shared_ptr<Storage> storage, std::vector<std::int64_t> shape,
                             std::vector<std::int64_t> strides, std::int64_t offset, DType dtype);

  // --- metadata -------------------------------------------------------------------------
  bool defined() const { return storage_ != nullptr; }
  const std::vector<std::int64_t>& shape() const { return shape_; }
  const std::vector<std::int64_t>& strides() const { return strides_; }  // in elements
  std::int64_t dim() const { return static_cast<std::int64_t>(shape_.size()); }
  std::int64_t size(std::int64_t dim) const;    // negative dims count from the end
  std::int64_t stride(std::int64_t dim) const;  // negative dims count from the end
  std::int64_t numel() const;
  std::int64_t offset() const { return offset_; }  // in elements, into the storage
  DType dtype() const { return dtype_; }
  Device device() const;
  std::size_t element_size() const { return dtype_size(dtype_); }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * element_size(); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  /// The driver this tensor's memory lives on (and whose stream its ops run on): null for a
  /// cpu tensor. Ops take it from here, never from the storage.
  const std::shared_ptr<Driver>& driver() const;
  /// Whether its memory holds values: false on a device that runs nothing (Driver::holds_values:
  /// planning), where steps that only prepare values may make tensors of the shapes instead.
  bool holds_values() const;
  bool is_contiguous() const;  // row-major and dense (dims of size 1 may have any stride)
  bool shares_storage(const Tensor& other) const { return defined() && storage_ == other.storage_; }

  // --- views (share the storage) --------------------------------------------------------
  /// Elements start, start+step, ... < end along `dim`; needs 0 <= start <= end <= size.
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor narrow(std::int64_t dim, std::int64_t start, std::int64_t length) const;
  /// Index `index` of `dim`, which is removed.
  Tensor select(std::int64_t dim, std::int64_t index) const;
  /// Same elements with another shape (one entry may be -1); needs a contiguous tensor.
  Tensor view(std::vector<std::int64_t> shape) const;
  /// view() when contiguous, else a contiguous copy viewed.
  Tensor reshape(std::vector<std::int64_t> shape) const;
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
  /// Dimension i of the result is dimension dims[i] of this tensor.
  Tensor permute(const std::vector<std::int64_t>& dims) const;

  // --- copies ---------------------------------------------------------------------------
  /// This tensor when contiguous, else a contiguous copy on the same device.
  Tensor contiguous() const;
  /// A contiguous copy on the same device, always.
  Tensor clone() const;
  /// This tensor when already on `device`, else a contiguous copy there (cpu <-> driver
  /// device, or between two driver devices through the host).
  Tensor to(const Device& device) const;
  /// As above, with an explicit driver for a non-host target device: a tensor on another
  /// driver of the same device kind is copied to this one.
  Tensor to(const Device& device, std::shared_ptr<Driver> driver) const;
  /// Copies `src` (same dtype and shape, any device and strides) into this tensor's
  /// elements. NOTE: a non-contiguous device destination is updated by reading and
  /// rewriting the whole storage span it covers, so the gaps must not change meanwhile.
  Tensor& copy_(const Tensor& src);
  /// A contiguous cpu tensor of the float dtype `dtype`: each element goes through f32
  /// (exact) and is rounded once, RNE; fp8 overflow per `satfinite` (see float_convert.hpp).
  /// This tensor itself when it already has `dtype`. Cpu only.
  Tensor to_dtype(DType dtype, bool satfinite = false) const;

  // --- element access -------------------------------------------------------------------
  /// Host address of element 0; cpu only.
  void* raw_data_ptr() const;
  /// Typed host address of element 0; cpu only. float, int32_t and int8_t must match the
  /// dtype exactly; other types need the element size (uint16_t for f16/bf16 bits ...).
  template <typename T>
  T* data_ptr() const {
    check_element_type(sizeof(T), exact_dtype_of<T>());
    return static_cast<T*>(raw_data_ptr());
  }
  /// Device address of element 0; non-host devices only.
  DevicePtr device_ptr() const;
  /// One element converted to f32 (exact for every dtype but int32 beyond 2^24); the index
  /// count must equal dim(). Works on any device (a device element is copied to the host).
  template <typename... I>
  float item_f32(I... index) const {
    const std::array<std::int64_t, sizeof...(I)> idx{static_cast<std::int64_t>(index)...};
    return item_f32_at(idx);
  }
  float item_f32_at(std::span<const std::int64_t> index) const;
  /// Every element in row-major order, converted to f32; any device.
  std::vector<float> to_f32_vector() const;

  // --- printing -------------------------------------------------------------------------
  /// "Tensor(shape=[2, 3], dtype=bf16, device=cpu)": how errors name a tensor.
  std::string describe() const;
  /// describe() plus the layout and the values, e.g.
  /// "Tensor(shape=[2, 3], dtype=bf16, device=cpu, contiguous) [[1, 2, 3], [4, 5, 6]]".
  /// Tensors of more than kPrintAllLimit elements show kEdgeItems items at each end of
  /// every longer dimension, with "..." between.
  std::string str() const;
  static constexpr std::int64_t kPrintAllLimit = 64;
  static constexpr std::int64_t kEdgeItems = 3;

 private:
  Tensor(std::shared_ptr<Storage> storage, std::vector<std::int64_t> shape, std::vector<std::int64_t> strides,
         std::int64_t offset, DType dtype);

  template <typename T>
  static constexpr std::optional<DType> exact_dtype_of() {
    if constexpr (std::is_same_v<std::remove_cv_t<T>, float>) return DType::kF32;
    if constexpr (std::is_same_v<std::remove_cv_t<T>, std::int32_t>) return DType::kI32;
    if constexpr (std::is_same_v<std::remove_cv_t<T>, std::int8_t>) return DType::kI8;
    return std::nullopt;
  }
  void check_element_type(std::size_t size, std::optional<DType> exact) const;
  void check_defined(const char* op) const;
  std::int64_t wrap_dim(std::int64_t dim, const char* op) const;
  // The storage span (in elements) the view covers: [offset_, offset_ + span_elements()).
  std::int64_t span_elements() const;
  // A cpu tensor with this tensor's shape and strides over a host copy of its storage span.
  Tensor span_to_host() const;
  // Writes a span_to_host() mirror back over this device tensor's span.
  void span_from_host(const Tensor& mirror);

  std::shared_ptr<Storage> storage_;
  std::vector<std::int64_t> shape_;
  std::vector<std::int64_t> strides_;
  std::int64_t offset_ = 0;
  DType dtype_ = DType::kF32;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

}  // namespace qjit
