#pragma once
// Typed kernel launches. Each kernel family's host generator (jit/impls/<family>.hpp) owns a
// parameter struct per entry signature: the op fills it, and Kernel::launch (runtime/
// kernels.hpp) passes its fields, in order, as the kernel's parameters (cuLaunchKernel's
// kernelParams point into the struct). The device entries keep plain positional parameters,
// so that read-only inputs stay `const T* __restrict__` kernel arguments, which is what lets
// the compiler load them through the non-coherent cache (ld.global.nc).
//
// The two sides are checked against each other: the host struct describes its fields
// (layout()), checked to cover it (check_param_layout, field count); the generated source of
// every program static_asserts that each entry takes as many parameters as the struct has
// fields, each of the field's size and kind (address, signed or unsigned integer, float), in
// order (param_checks in jit/source_gen.cpp); and Kernel::launch refuses another family's
// struct. A field added, dropped, moved or retyped on one side fails the compile, naming the
// entry, the parameter and the host field.

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace qjit::jit {

/// A device address in a parameter struct (a pointer parameter on the device side). Distinct
/// from an unsigned integer so that the checks can tell the two apart.
struct DeviceAddress {
  std::uint64_t value = 0;
  constexpr DeviceAddress() = default;
  constexpr DeviceAddress(std::uint64_t v) : value(v) {}  // NOTE: implicit: args.x = t.device_ptr()
};

/// What a parameter is; the device side numbers them the same (qjit::dev::kParamKind).
enum class ParamKind : int { kAddress = 1, kSigned = 2, kUnsigned = 3, kFloat = 4 };
const char* param_kind_name(ParamKind k);  // "an address", "a signed integer" ...

template <class T>
constexpr ParamKind param_kind() {
  if constexpr (std::is_same_v<T, DeviceAddress>) {
    return ParamKind::kAddress;
  } else if constexpr (std::is_floating_point_v<T>) {
    return ParamKind::kFloat;
  } else {
    static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>,
                  "a parameter field is a DeviceAddress, an integer or a float");
    return std::is_signed_v<T> ? ParamKind::kSigned : ParamKind::kUnsigned;
  }
}

struct ParamField {
  const char* name;
  std::size_t offset = 0;
  std::size_t size = 0;
  ParamKind kind = ParamKind::kSigned;
};

/// A parameter struct as the host lays it out.
struct ParamLayout {
  std::string host_type;  // "jit::impls::RopeParams" (messages)
  std::size_t size = 0, align = 0;
  std::vector<ParamField> fields;  // in declaration order: the entry's parameters
};

/// The most parameters an entry takes (a launch packs them in a fixed array).
inline constexpr std::size_t kMaxKernelParams = 24;

/// Checks that `fields` cover the struct: in increasing offsets, each at the first offset its
/// size aligns after the previous one (every field is a scalar or a device address, aligned
/// to its size), the struct's size the last field's end rounded up to its alignment, at most
/// kMaxKernelParams of them. Throws qjit::Error naming the struct and the field.
void check_param_layout(const ParamLayout& layout);
/// Throws qjit::Error when the layout describes other than `fields` fields (the struct's count).
void check_param_count(const ParamLayout& layout, std::size_t fields);

namespace detail {
// Converts to any field type: P{AnyField x N} is well-formed iff the aggregate P has at least
// N fields (every field is a scalar or an address, so no brace elision).
struct AnyField {
  template <class T>
  constexpr operator T() const {
    return T{};
  }
};
template <class P, std::size_t... I>
constexpr bool aggregate_from(std::index_sequence<I...>) {
  return requires { P{(static_cast<void>(I), AnyField{})...}; };
}
template <class P, std::size_t N = 0>
constexpr std::size_t field_count() {
  if constexpr (N < 64 && aggregate_from<P>(std::make_index_sequence<N + 1>{})) {
    return field_count<P, N + 1>();
  } else {
    return N;
  }
}
}  // namespace detail

/// The layout of a host parameter struct P, built once (P::layout() describes it with
/// QJIT_PARAM_FIELD) and checked: by check_param_layout, and against P's field count (a field
/// left out at the end, in what would be padding, is caught there). The returned reference
/// identifies P: kernels compare it at launch.
template <class P>
const ParamLayout& param_layout() {
  static const ParamLayout layout = [] {
    ParamLayout l = P::layout();
    l.size = sizeof(P);
    l.align = alignof(P);
    check_param_layout(l);
    check_param_count(l, detail::field_count<P>());
    return l;
  }();
  return layout;
}

}  // namespace qjit::jit

// A field of host struct S, for S::layout().
#define QJIT_PARAM_FIELD(S, f) \
  (::qjit::jit::ParamField{#f, offsetof(S, f), sizeof(S::f), ::qjit::jit::param_kind<decltype(S::f)>()})
