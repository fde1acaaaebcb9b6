#pragma once
// PTX text -> ptx::Module (sim/ptx_ast.hpp). Covers what NVRTC 13 emits for sm_80,
// sm_89 and sm_90 at its default optimization, inline-asm bodies included.

#include <string>
#include <string_view>

#include "sim/ptx_ast.hpp"

namespace qjit::sim::ptx {

// Throws qjit::Error (subsystem "ptx") on any construct it does not support or cannot parse,
// naming `name`, the PTX line number and the text of that line. Nothing is skipped silently:
// only comments, `.pragma`, and the debug directives `.file` / `.loc` carry no meaning here.
Module parse_module(std::string_view text, const std::string& name);

}  // namespace qjit::sim::ptx
