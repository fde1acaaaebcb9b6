#include "runtime/linear_input.hpp"

namespace qjit {

bool InputQuantization::same_as(const InputQuantization& other) const {
  if (codes != other.codes || per_token != other.per_token) return false;
  if (per_token) return true;
  if (!static_scale || !other.static_scale) return static_scale.has_value() == other.static_scale.has_value();
  const auto value = [](const InputQuantization& q) {
    return q.static_scale_value == q.static_scale_value ? q.static_scale_value  // known (not NaN)
                                                        : q.static_scale->to(Device::cpu()).item_f32(0);
  };
  return value(*this) == value(other);
}

}  // namespace qjit
