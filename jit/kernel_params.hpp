#pragma once
// Typed kernel launches. Every kernel takes one parameter: a struct the host fills and its
// device template mirrors (templates/impls/<family>.cuh). The host struct describes its
// fields (param_layout); the generated source of every program checks, by static_asserts,
// that the device struct has the host's size and alignment and each field at the host's
// offset with the host's size, and that each kernel entry takes exactly that struct
// (jit/source_gen.cpp). A field added, dropped, moved or retyped on one side fails the compile
// naming the struct and field; a launch with another family's struct is refused by
// Kernel::launch (runtime/kernels.hpp) before it reaches the driver.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace qjit::jit {

/// A device address in a parameter struct (a pointer on the device side).
using DeviceAddress = std::uint64_t;

struct ParamField {
  const char* name;
  std::size_t offset = 0;
  std::size_t size = 0;
};

/// A parameter struct as the host lays it out.
struct ParamLayout {
  std::string host_type;    // "jit::impls::RopeParams" (messages)
  std::string device_type;  // "qjit::kernels::RopeParams"
  std::size_t size = 0, align = 0;
  std::vector<ParamField> fields;  // in declaration order
};

/// Checks that `fields` cover the struct: in increasing offsets, each at the first offset its
/// size aligns after the previous one (every field is a scalar or a device address, aligned
/// to its size), the struct's size the last field's end rounded up to its alignment. A field
/// left out of the description fails here (tests build every family's layouts). Throws
/// qjit::Error naming the struct and the field.
void check_param_layout(const ParamLayout& layout);

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

/// Throws qjit::Error when the layout describes other than `fields` fields (the struct's count).
void check_param_count(const ParamLayout& layout, std::size_t fields);

/// The layout of a host parameter struct P, built once (P::layout() describes it with
/// QJIT_PARAM_FIELD) and checked: by check_param_layout, and against P's field count (a
/// field left out at the end, in what would be padding, is caught there). The returned
/// reference identifies P: kernels compare it at launch.
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
#define QJIT_PARAM_FIELD(S, f) (::qjit::jit::ParamField{#f, offsetof(S, f), sizeof(S::f)})
