#include "runtime/kernel_operands.hpp"

#include "common/error.hpp"

namespace qjit {

Tensor on_driver(const Tensor& t, const Device& dev, const std::shared_ptr<Driver>& driver) { return t.to(dev, driver); }

Tensor as_kernel_operand(const Tensor& t, const char* op, const char* what) {
  const std::int64_t row_bytes = t.stride(0) * static_cast<std::int64_t>(t.element_size());
  const bool in_place = t.stride(1) == 1 && (t.size(0) <= 1 || row_bytes % 16 == 0) && t.device_ptr() % 16 == 0;
  const Tensor c = in_place ? t : t.clone();
  // NOTE: every driver's allocations are at least 256-byte aligned; this guards the rule.
  QJIT_CHECK_GEN(op, c.device_ptr() % 16 == 0, "{} {} do not start 16-byte aligned", what, c.describe());
  return c;
}

}  // namespace qjit
