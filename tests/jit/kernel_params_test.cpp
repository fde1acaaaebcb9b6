// Typed launches (jit/kernel_params.hpp): every family entry has a host parameter struct whose
// description covers it, and the generated source refuses a device struct that differs from
// the host's in any field (name, size, order, count), naming the field.

#include "jit/kernel_params.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "jit/compiler.hpp"
#include "jit/family.hpp"
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
      EXPECT_EQ(k.params->device_type.rfind("qjit::kernels::", 0), 0u);
      EXPECT_EQ(&f.kernel(k.name), &k);
      ++entries;
    }
  }
  EXPECT_EQ(entries, 13);  // act_quant 5, qgemm 2, qgemm_wo, norm_mod, rope, elementwise, attention 2
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

TEST(KernelParams, TheGeneratedSourceRefusesADeviceStructThatDiffers) {
  EXPECT_EQ(compile_with_host([](ParamLayout&) {}), "");
  // A field the device struct does not have.
  EXPECT_NE(compile_with_host([](ParamLayout& l) { l.fields[3].name = "sine_offset"; }).find("sine_offset"),
            std::string::npos);
  // A field of another size.
  EXPECT_NE(compile_with_host([](ParamLayout& l) { l.fields[9].size = 8; })
                .find("qjit::kernels::RopeParams::grid_h must be 8 bytes, as on the host"),
            std::string::npos);
  // Two fields in another order.
  EXPECT_NE(compile_with_host([](ParamLayout& l) { std::swap(l.fields[4], l.fields[5]); })
                .find("qjit::kernels::RopeParams::off_h must follow qjit::kernels::RopeParams::off_w"),
            std::string::npos);
  // The device struct has a field more than the host's (one the host forgot, in the padding).
  EXPECT_NE(compile_with_host([](ParamLayout& l) { l.fields.pop_back(); })
                .find("qjit::kernels::RopeParams must have 14 fields"),
            std::string::npos);
  // Another size in all.
  EXPECT_NE(compile_with_host([](ParamLayout& l) { l.size += 8; }).find("qjit::kernels::RopeParams must be 104 bytes"),
            std::string::npos);
}

TEST(KernelParams, TheGeneratedSourceRefusesAnEntryTakingAnotherStruct) {
  ParamLayout other = param_layout<impls::RopeParams>();
  other.device_type = "qjit::kernels::ElementwiseParams";
  Family f = find_family("rope");
  f.kernels[0].params = &other;
  const std::string checks = param_checks(f);
  EXPECT_NE(checks.find("static_assert(qjit::dev::kTakesParams<decltype(&qjit::kernels::rope_3d<QjitConfig>), "
                        "qjit::kernels::ElementwiseParams>"),
            std::string::npos);
}

}  // namespace
}  // namespace qjit::jit
