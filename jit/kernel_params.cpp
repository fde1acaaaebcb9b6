#include "jit/kernel_params.hpp"

#include <algorithm>

#include "common/error.hpp"

namespace qjit::jit {

const char* param_kind_name(ParamKind k) {
  switch (k) {
    case ParamKind::kAddress: return "an address";
    case ParamKind::kSigned: return "a signed integer";
    case ParamKind::kUnsigned: return "an unsigned integer";
    case ParamKind::kFloat: return "a float";
  }
  return "an unknown kind";
}

void check_param_layout(const ParamLayout& l) {
  QJIT_CHECK_GEN("jit", !l.fields.empty(), "{} describes no field", l.host_type);
  QJIT_CHECK_GEN("jit", l.fields.size() <= kMaxKernelParams, "{} has {} fields; a kernel takes at most {}",
                 l.host_type, l.fields.size(), kMaxKernelParams);
  std::size_t end = 0, align = 1;
  for (const ParamField& f : l.fields) {
    QJIT_CHECK_GEN("jit", f.size == 1 || f.size == 2 || f.size == 4 || f.size == 8,
                   "{}::{} is {} bytes: a parameter field is a scalar or a device address", l.host_type, f.name,
                   f.size);
    const std::size_t at = (end + f.size - 1) / f.size * f.size;
    QJIT_CHECK_GEN("jit", f.offset == at,
                   "{}::{} is at offset {}, where the fields described before it end at {}: a field is missing "
                   "from {}::layout() or out of order",
                   l.host_type, f.name, f.offset, at, l.host_type);
    end = f.offset + f.size;
    align = std::max(align, f.size);
  }
  const std::size_t size = (end + align - 1) / align * align;
  QJIT_CHECK_GEN("jit", l.size == size && l.align == align,
                 "{} is {} bytes aligned {}, but its described fields make {} bytes aligned {}: a field is missing "
                 "from its layout()",
                 l.host_type, l.size, l.align, size, align);
}

void check_param_count(const ParamLayout& l, std::size_t fields) {
  QJIT_CHECK_GEN("jit", l.fields.size() == fields, "{}::layout() describes {} fields, but {} has {}", l.host_type,
                 l.fields.size(), l.host_type, fields);
}

}  // namespace qjit::jit
