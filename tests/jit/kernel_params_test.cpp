// Typed launches (jit/kernel_params.hpp): every family entry has a host parameter struct whose
// description covers it, and the generated source refuses an entry whose parameters differ
// from the struct's fields (count, size, kind, order), naming the parameter and the field.

#include "jit/kernel_params.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "jit/compiler.hpp"
#include "jit/family.hpp"
#include "jit/impls/act_quant.hpp"
#include "jit/impls/attention.hpp"
#include "jit/impls/elementwise.hpp"
#include "jit/impls/norm_mod.hpp"
#include "jit/impls/qgemm.hpp"
#include "jit/impls/qgemm_wo.hpp"
#include "jit/impls/rope.hpp"
#include "jit/source_gen.hpp"

namespace qjit::jit {
namespace {

std::string error_of(const auto& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.message();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(KernelParams, EveryEntryOfEveryFamilyHasACheckedStruct) {
  int entries = 0;
  for (const auto& name : family_names()) {
    const Family& f = find_family(name);
    for (const auto& k : f.kernels) {
      SCOPED_TRACE(k.name);
      ASSERT_NE(k.params, nullptr);
      EXPECT_NO_THROW(check_param_layout(*k.params));
      EXPECT_EQ(k.params->host_type.rfind("jit::impls::", 0), 0u);
      EXPECT_EQ(&f.kernel(k.name), &k);
      ++entries;
    }
  }
  // act_quant 5, qgemm 2, qgemm_wo, norm_mod, rope, elementwise, attention 2; host_act_quant 2,
  // host_qgemm_int8, host_gemm_bf16, host_attention, host_elementwise, host_norm_mod, host_rope,
  // host_gemm_f32
  EXPECT_EQ(entries, 22);
  EXPECT_NE(error_of([] { find_family("rope").kernel("qjit::kernels::nope"); }).find("its kernels: qjit::kernels::rope_3d"),
            std::string::npos);
}

TEST(KernelParams, ADescriptionThatLeavesAFieldOutIsRefused) {
  ParamLayout l = impls::RopeParams::layout();
  l.size = sizeof(impls::RopeParams);
  l.align = alignof(impls::RopeParams);
  ParamLayout missing = l;
  missing.fields.erase(missing.fields.begin() + 4);  // off_h
  EXPECT_NE(error_of([&] { check_param_layout(missing); }).find("RopeParams::off_w is at offset 40"),
            std::string::npos);
  // The last field left out: in what is then padding, so only P's field count shows it.
  ParamLayout tail = l;
  tail.fields.pop_back();  // n_h
  EXPECT_NO_THROW(check_param_layout(tail));
  EXPECT_EQ(detail::field_count<impls::RopeParams>(), 15u);
  EXPECT_NE(error_of([&] { check_param_count(tail, detail::field_count<impls::RopeParams>()); })
                .find("jit::impls::RopeParams::layout() describes 14 fields, but jit::impls::RopeParams has 15"),
            std::string::npos);
}

// Compiles the rope family's program with the checks of a host struct changed by `edit`;
// returns NVRTC's error text ("" when it compiles).
std::string compile_with_host(const std::function<void(ParamLayout&)>& edit) {
  ParamLayout host = param_layout<impls::RopeParams>();
  edit(host);
  Family f = find_family("rope");
  f.kernels[0].params = &host;
  Program p = build_program(impls::rope_spec({DType::kBF16, DType::kBF16}, {256}, Arch::parse("sm_80")), CompileOutput::kPtxOnly);
  const std::string real = param_checks(find_family("rope"));
  const auto at = p.source.find(real);
  EXPECT_NE(at, std::string::npos);
  p.source.replace(at, real.size(), param_checks(f));
  try {
    compile(p);
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(KernelParams, TheGeneratedSourceRefusesAnEntryWhoseParametersDiffer) {
  EXPECT_EQ(compile_with_host([](ParamLayout&) {}), "");
  // A field of another size (grid_h: the device's int).
  EXPECT_NE(compile_with_host([](ParamLayout& l) { l.fields[9].size = 8; })
                .find("parameter 10 of qjit::kernels::rope_3d must be a signed integer of 8 bytes, as "
                      "jit::impls::RopeParams::grid_h is on the host"),
            std::string::npos);
  // A field of another kind and the same size (the table, an address, as an integer).
  EXPECT_NE(compile_with_host([](ParamLayout& l) { l.fields[2].kind = ParamKind::kUnsigned; })
                .find("parameter 3 of qjit::kernels::rope_3d must be an unsigned integer of 8 bytes"),
            std::string::npos);
  // Two fields in another order (an address and an integer).
  EXPECT_NE(compile_with_host([](ParamLayout& l) { std::swap(l.fields[2], l.fields[3]); })
                .find("parameter 3 of qjit::kernels::rope_3d must be a signed integer of 8 bytes, as "
                      "jit::impls::RopeParams::sin_offset is on the host"),
            std::string::npos);
  // A field fewer or more than the entry's parameters.
  EXPECT_NE(compile_with_host([](ParamLayout& l) { l.fields.pop_back(); })
                .find("qjit::kernels::rope_3d must take 14 parameters, as jit::impls::RopeParams has fields"),
            std::string::npos);
  EXPECT_NE(compile_with_host([](ParamLayout& l) { l.fields.push_back(l.fields.back()); })
                .find("must take 16 parameters"),
            std::string::npos);
}

// Read-only inputs stay `const T* __restrict__` kernel parameters (the launch passes the
// struct's fields one by one), so every global load of these kernels, which store their
// outputs and never read them back, goes through the non-coherent cache: a struct parameter
// once turned all of act_quant's, norm_mod's, both GEMMs' and attention's into plain loads.
TEST(KernelParams, ReadOnlyInputsAreLoadedThroughTheNonCoherentCache) {
  const Arch sm90 = Arch::parse("sm_90");
  impls::GemmDesc g;
  g.n = g.k = 1536;
  g.bias = DType::kBF16;
  impls::GemmDesc fused = g;
  fused.a_source = impls::ActSource::kDynamic;
  impls::WeightOnlyDesc w;
  w.n = w.k = 1536;
  w.bias = DType::kBF16;
  impls::AttentionDesc at{DType::kBF16, DType::kBF16, 128};
  impls::NormModDesc nm;
  nm.quant = impls::NormModQuant::kDynamicPerToken;
  nm.qtype = QType::kInt8;
  nm.affine = true;
  const impls::ActQuantDesc per_token{DType::kBF16, QType::kInt8, ActScale::kDynamicPerToken, 1536};
  const impls::ActQuantDesc per_tensor{DType::kBF16, QType::kE4M3, ActScale::kDynamicPerTensor, 1536};
  const impls::ElementwiseDesc ew{impls::ElementwiseOp::kGatedResidual, DType::kBF16, DType::kBF16, DType::kF32,
                                  DType::kBF16};
  const std::vector<KernelSpec> specs = {
      impls::qgemm_spec(g, impls::qgemm_heuristic(g, sm90), sm90),
      impls::qgemm_spec(fused, impls::qgemm_heuristic(fused, sm90), sm90),
      impls::qgemm_wo_spec(w, impls::qgemm_wo_heuristic(w, sm90), sm90),
      impls::attention_spec(at, impls::attention_heuristic(at), sm90),
      impls::norm_mod_spec(nm, impls::norm_mod_heuristic(nm), sm90),
      impls::act_quant_spec(per_token, impls::act_quant_heuristic(per_token), sm90),
      impls::act_quant_spec(per_tensor, impls::act_quant_heuristic(per_tensor), sm90),
      impls::rope_spec({DType::kBF16, DType::kBF16}, {256}, sm90),
      impls::elementwise_spec(ew, impls::elementwise_heuristic(ew), sm90)};
  auto count = [](const std::string& text, const std::string& what) {
    int n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  for (const KernelSpec& spec : specs) {
    SCOPED_TRACE(spec.summary());
    const std::string ptx = compile(build_program(spec, CompileOutput::kPtxOnly)).ptx;
    EXPECT_GT(count(ptx, "ld.global."), 0);
    EXPECT_EQ(count(ptx, "ld.global.nc."), count(ptx, "ld.global."));
  }
}

}  // namespace
}  // namespace qjit::jit
