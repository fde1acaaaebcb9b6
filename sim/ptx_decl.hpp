#pragma once
// Private to the PTX parser: variable declarations (module scope, parameters, function
// locals) and their initializers.

#include <string>
#include <vector>

#include "sim/ptx_lexer.hpp"

namespace qjit::sim::ptx::detail {

enum class DeclContext {
  kModule,     // .global/.const may be initialized; ends with ';'
  kParam,      // one entry of a parameter list: no initializer, no ';'
  kFunction,   // .local/.shared/.param in a body: no initializer; ends with ';'
};

// Parses the rest of a declaration whose state-space directive (".global", ...) was just
// consumed: [.align N] [.v2|.v4] .type [.ptr [.space] [.align N]] name[dims] [= init] {, ...}.
// Several comma-separated names share one type, except in a parameter list.
std::vector<Variable> parse_variables(Cursor& cur, const std::string& space, bool is_extern, int line,
                                      DeclContext context);

// A known fundamental type directive name without the dot ("b32", "pred", "f16x2")?
bool is_type_name(std::string_view name);

}  // namespace qjit::sim::ptx::detail
