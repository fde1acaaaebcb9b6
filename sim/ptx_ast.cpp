#include "sim/ptx_ast.hpp"

namespace qjit::sim::ptx {

const Function* Module::find(const std::string& fn_name) const {
  for (const Function& f : functions) {
    if (f.name == fn_name) return &f;
  }
  return nullptr;
}

int type_size(const std::string& type) {
  if (type == "pred" || type == "b8" || type == "u8" || type == "s8") return 1;
  if (type == "b16" || type == "u16" || type == "s16" || type == "f16" || type == "bf16") return 2;
  if (type == "b32" || type == "u32" || type == "s32" || type == "f32" || type == "f16x2" ||
      type == "bf16x2" || type == "tf32") {
    return 4;
  }
  if (type == "b64" || type == "u64" || type == "s64" || type == "f64") return 8;
  if (type == "b128") return 16;
  return 0;
}

}  // namespace qjit::sim::ptx
