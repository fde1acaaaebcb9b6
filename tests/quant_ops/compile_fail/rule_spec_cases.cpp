// The compile-time rule spelling (quant_ops/rule_spec.hpp), one case per -D: tests/CMakeLists.txt
// compiles each with g++ and clang++-14 (-fsyntax-only). QJIT_OK must compile; every other case
// must fail with the rule_spec_error function named in tests/CMakeLists.txt.

#include "quant_ops/rule_spec.hpp"

void quantize(qjit::Module& model) {
#if defined(QJIT_OK)
  qjit::rule<qjit::RuleSpec{.weight = "int8", .act = "int8"}>.apply(model);
  qjit::rule<qjit::RuleSpec{.module_path = R"(blocks\.\d+\.ffn\..*)", .weight = "FP8-E4M3"}>.apply(model);
  qjit::rule<qjit::RuleSpec{.weight = "fp8", .act_granularity = "group128"}>.apply(model, qjit::ApplyOptions{});
  static_assert(decltype(qjit::rule<qjit::RuleSpec{.weight = "fp8", .act_granularity = "group128"}>)::kResolved
                    .weight_granularity == qjit::Granularity::kBlock128);
#elif defined(QJIT_BAD_QTYPE)
  qjit::rule<qjit::RuleSpec{.weight = "int4", .act = "int8"}>.apply(model);
#elif defined(QJIT_BAD_GRANULARITY)
  qjit::rule<qjit::RuleSpec{.weight = "int8", .weight_granularity = "per_row"}>.apply(model);
#elif defined(QJIT_INT8_WITH_FP8)
  qjit::rule<qjit::RuleSpec{.weight = "int8", .act = "fp8"}>.apply(model);
#elif defined(QJIT_STATIC_PER_TOKEN)
  qjit::rule<qjit::RuleSpec{.weight = "int8", .act_static_scale = true, .act_granularity = "per_token"}>.apply(model);
#elif defined(QJIT_TOO_LONG)
  qjit::rule<qjit::RuleSpec{.weight = "a qtype name longer than thirty-two chars"}>.apply(model);
#else
#error "define one case: QJIT_OK, QJIT_BAD_QTYPE, ..."
#endif
}
