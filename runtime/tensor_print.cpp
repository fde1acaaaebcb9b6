#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstring>
#include <ostream>

#include "runtime/tensor.hpp"
#include "runtime/tensor_elements.hpp"

// The printed summary of a tensor: metadata, then the values as nested lists.

namespace qjit {

namespace {

std::string format_element(const std::byte* p, DType dtype) {
  switch (dtype) {
    case DType::kI8: return fmt::format("{}", static_cast<std::int8_t>(*p));
    case DType::kI32: {
      std::int32_t v;
      std::memcpy(&v, p, sizeof v);
      return fmt::format("{}", v);
    }
    default: return fmt::format("{:g}", tensor_detail::load_f32(p, dtype));  // 1, 0.5, 1e+30, nan, -inf
  }
}

struct Printer {
  const std::byte* base;
  DType dtype;
  const std::vector<std::int64_t>& shape;
  const std::vector<std::int64_t>& strides;
  bool summarize;
  std::string out;

  void append(std::size_t d, std::int64_t off) {
    if (d == shape.size()) {
      out += format_element(base + off * static_cast<std::int64_t>(dtype_size(dtype)), dtype);
      return;
    }
    out += '[';
    const std::int64_t n = shape[d];
    const bool elide = summarize && n > 2 * Tensor::kEdgeItems;
    for (std::int64_t i = 0; i < n; ++i) {
      if (i > 0) out += ", ";
      if (elide && i == Tensor::kEdgeItems) {
        out += "...";
        i = n - Tensor::kEdgeItems - 1;
        continue;
      }
      append(d + 1, off + i * strides[d]);
    }
    out += ']';
  }
};

}  // namespace

std::string Tensor::describe() const {
  if (!defined()) return "Tensor(undefined)";
  return fmt::format("Tensor(shape=[{}], dtype={}, device={})", fmt::join(shape_, ", "), dtype_name(dtype_),
                     device().str());
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  const std::string layout =
      is_contiguous() ? "contiguous" : fmt::format("strides=[{}]", fmt::join(strides_, ", "));
  // A device tensor is printed from a host copy; a host one in place, strides and all.
  const Tensor h = device().is_host() ? *this : to(Device::cpu());
  Printer p{static_cast<const std::byte*>(h.storage_->host_ptr()),
            dtype_,
            h.shape_,
            h.strides_,
            numel() > kPrintAllLimit,
            {}};
  p.append(0, h.offset_);
  return fmt::format("Tensor(shape=[{}], dtype={}, device={}, {}) {}", fmt::join(shape_, ", "),
                     dtype_name(dtype_), device().str(), layout, p.out);
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace qjit
