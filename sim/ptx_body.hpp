#pragma once
// Private to the PTX parser: a function body, from its '{' to the matching '}'.

#include "sim/ptx_lexer.hpp"

namespace qjit::sim::ptx::detail {

// Fills fn.regs, fn.locals, fn.body and fn.labels. `module` holds what is declared before
// the function (its globals and functions), against which symbol operands are checked.
void parse_body(Cursor& cur, Function& fn, const Module& module);

}  // namespace qjit::sim::ptx::detail
