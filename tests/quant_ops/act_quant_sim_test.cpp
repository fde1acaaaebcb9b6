// The activation-quantization kernels on the sim device, one simulated GPU per shipped
// arch (sm_80 takes the integer fp8 rounding path, sm_89 and sm_90 the cvt instruction),
// bit-identical to the reference on odd shapes and on rows of zeros, tiny values, NaN and
// Inf (DESIGN.md section 5): per-token and static on a small sweep, dynamic per-tensor and
// group128 on a pairwise cover of shapes, dtypes, qtypes and special values.

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "common/error.hpp"
#include "quant_ops/act_quant.hpp"
#include "quant_ops/reference/act_quant.hpp"
#include "sim/sim_driver.hpp"

namespace qjit {
namespace {

std::vector<float> rows_with_specials(std::int64_t m, std::int64_t k) {
  std::vector<float> x(static_cast<size_t>(m * k));
  for (std::int64_t i = 0; i < m * k; ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) * (1 + i % 5);
  for (std::int64_t r = 0; r < m; ++r) {
    float* row = x.data() + r * k;
    switch (r % 6) {
      case 1: std::fill(row, row + k, 0.0f); break;                                     // zeros
      case 2: for (std::int64_t i = 0; i < k; ++i) row[i] = 1e-35f * (i + 1); break;   // tiny
      case 3: row[k / 2] = std::numeric_limits<float>::quiet_NaN(); break;
      case 4: row[0] = std::numeric_limits<float>::infinity(); break;
      case 5: row[k - 1] = -std::numeric_limits<float>::infinity(); break;
      default: break;
    }
  }
  return x;
}

struct Shape {
  std::int64_t m, k;
};

class ActQuantSim : public ::testing::TestWithParam<const char*> {};

TEST_P(ActQuantSim, BitIdenticalToReference) {
  auto driver = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch(GetParam()));
  for (const Shape s : {Shape{1, 1}, Shape{3, 17}, Shape{257, 1536}}) {
    for (DType in : {DType::kF32, DType::kBF16}) {
      for (QType q : {QType::kInt8, QType::kE4M3, QType::kE5M2}) {
        for (ActScale mode : {ActScale::kDynamicPerToken, ActScale::kStaticPerTensor}) {
          if (s.m == 257 && in == DType::kF32 && mode == ActScale::kStaticPerTensor) continue;  // keep the suite quick
          const std::string what = fmt::format("{} {}x{} {} -> {} {}", GetParam(), s.m, s.k, dtype_name(in),
                                               qtype_name(q), mode == ActScale::kDynamicPerToken ? "per-token" : "static");
          SCOPED_TRACE(what);
          const Tensor host = Tensor::from_vector<float>({s.m, s.k}, rows_with_specials(s.m, s.k)).to_dtype(in);
          const float scale = 0.02f;
          const auto view = reference::ActView::dense(host.raw_data_ptr(), in, s.m, s.k);
          const auto want = mode == ActScale::kDynamicPerToken ? reference::quantize_dynamic(view, q, Granularity::kPerToken)
                                                               : reference::quantize_static(view, q, scale);
          std::optional<Tensor> given;
          if (mode == ActScale::kStaticPerTensor) given = Tensor::from_vector<float>({1}, std::vector<float>{scale});
          const auto got = quantize_activations(host.to(Device::sim(), driver), q, mode, given);
          const Tensor codes = got.q.to(Device::cpu());
          ASSERT_EQ(std::memcmp(codes.raw_data_ptr(), want.q.data(), want.q.size()), 0) << what;
          if (mode == ActScale::kDynamicPerToken) {
            const auto scales = got.scales.to(Device::cpu()).to_f32_vector();
            for (size_t i = 0; i < scales.size(); ++i) {
              if (std::isnan(want.scales[i])) EXPECT_TRUE(std::isnan(scales[i])) << i;
              else EXPECT_EQ(scales[i], want.scales[i]) << i;
            }
          }
        }
      }
    }
  }
  const auto c = driver->total_counters();
  EXPECT_GT(c.thread_instructions, 0u);
  std::printf("%s: %llu thread-instructions in %.2f s (%.1f M/s)\n", GetParam(),
              static_cast<unsigned long long>(c.thread_instructions), c.seconds, c.thread_instructions / c.seconds / 1e6);
}

// ---- dynamic per-tensor and group128 ----------------------------------------------------

// What the tensor holds besides ordinary values.
enum class Fill {
  kMixed,  // ordinary values; groups of zeros, of tiny values, with an outlier (no NaN / Inf)
  kNaN,    // kMixed plus NaN and Inf in groups of several rows (NaN in the last row, +Inf in the first)
  kInf,    // kMixed plus ±Inf in some groups, no NaN
  kZero,   // all zeros
  kTiny,   // all below 1e-30 in magnitude, subnormals included (the scale's floor)
};

const char* fill_name(Fill f) {
  switch (f) {
    case Fill::kMixed: return "mixed";
    case Fill::kNaN: return "nan";
    case Fill::kInf: return "inf";
    case Fill::kZero: return "zero";
    case Fill::kTiny: return "tiny";
  }
  return "?";
}

// [m, k] values; the specials are placed per 1x128 group (index gi = row * groups + group) so
// that group128 sees every kind of group and per-tensor sees them anywhere in the tensor.
std::vector<float> filled(std::int64_t m, std::int64_t k, Fill f) {
  std::vector<float> x(static_cast<size_t>(m * k));
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  if (f == Fill::kZero) return x;
  for (std::int64_t i = 0; i < m * k; ++i) {
    if (f == Fill::kTiny) x[i] = static_cast<float>(i % 7 - 3) * (i % 2 ? 1e-39f : 3e-31f);  // 1e-39: subnormal
    else x[i] = std::sin(0.37f * static_cast<float>(i)) * static_cast<float>(1 + i % 5);
  }
  if (f == Fill::kTiny) return x;
  const std::int64_t groups = (k + 127) / 128;
  for (std::int64_t r = 0; r < m; ++r) {
    for (std::int64_t g = 0; g < groups; ++g) {
      float* p = x.data() + r * k + g * 128;
      const std::int64_t len = std::min<std::int64_t>(128, k - g * 128);
      switch ((r * groups + g) % 6) {
        case 1: std::fill(p, p + len, 0.0f); break;
        case 2: for (std::int64_t i = 0; i < len; ++i) p[i] = 1e-35f * static_cast<float>(i + 1); break;
        case 3: p[len / 2] = -3.0e4f; break;
        case 4: if (f == Fill::kNaN) p[len - 1] = nan; else if (f == Fill::kInf) p[0] = inf; break;
        case 5: if (f != Fill::kMixed) p[len / 3] = -inf; break;
        default: break;
      }
    }
  }
  if (f == Fill::kNaN) {
    // Far apart, so in different blocks of the per-tensor passes: NaN must win over Inf.
    x[0] = inf;
    x[static_cast<size_t>((m - 1) * k + k / 2)] = nan;
  }
  return x;
}

struct DynCase {
  std::int64_t m, k;
  DType in;
  QType q;
  ActScale mode;
  Fill fill;
  bool offset_view = false;  // rows read from a wider tensor at column 1: unaligned, scalar paths
};

std::string case_name(const char* arch, const DynCase& c) {
  return fmt::format("{} {}x{}{} {} -> {} {} {}", arch, c.m, c.k, c.offset_view ? " (offset view)" : "",
                     dtype_name(c.in), qtype_name(c.q),
                     c.mode == ActScale::kDynamicPerTensor ? "per-tensor" : "group128", fill_name(c.fill));
}

constexpr DType f32 = DType::kF32, f16 = DType::kF16, bf16 = DType::kBF16;
constexpr QType i8 = QType::kInt8, e4m3 = QType::kE4M3, e5m2 = QType::kE5M2;
constexpr ActScale tensor = ActScale::kDynamicPerTensor, group = ActScale::kDynamicGroup128;

// A pairwise cover (every pair of values of any two of M, K, dtype, qtype, mode and fill
// appears; checked by PairwiseCoverIsComplete), then odd and unaligned rows for the scalar
// load paths (K = 130: 2-element alignment, so 2-element vectors per-tensor and lane-strided
// reads in group128; 131 and the offset views: none).
const std::vector<DynCase>& dynamic_cases() {
  static const std::vector<DynCase> cases = {
      {1, 16, f32, i8, tensor, Fill::kMixed},       {1, 48, f16, e4m3, group, Fill::kNaN},
      {7, 16, bf16, e5m2, group, Fill::kInf},       {300, 200, f16, e5m2, tensor, Fill::kZero},
      {7, 1536, f32, e4m3, tensor, Fill::kTiny},    {300, 48, bf16, i8, group, Fill::kTiny},
      {1, 200, bf16, e4m3, tensor, Fill::kInf},     {7, 200, f32, i8, group, Fill::kNaN},
      {1, 1536, f32, e5m2, group, Fill::kZero},     {7, 48, f16, e5m2, tensor, Fill::kMixed},
      {300, 1536, f16, i8, tensor, Fill::kInf},     {300, 16, f32, e4m3, tensor, Fill::kNaN},
      {300, 1536, bf16, e4m3, group, Fill::kMixed}, {1, 16, f16, e5m2, tensor, Fill::kTiny},
      {7, 16, bf16, i8, tensor, Fill::kZero},       {1, 48, f32, i8, tensor, Fill::kInf},
      {1, 1536, bf16, e5m2, tensor, Fill::kNaN},    {1, 48, f32, e4m3, tensor, Fill::kZero},
      {1, 200, f32, i8, tensor, Fill::kMixed},      {1, 200, f32, i8, tensor, Fill::kTiny},
      {7, 130, bf16, e4m3, group, Fill::kNaN},      {5, 131, f32, i8, tensor, Fill::kMixed},
      {3, 130, f16, e5m2, tensor, Fill::kInf},
      {9, 300, f16, e5m2, group, Fill::kInf, true}, {9, 256, bf16, i8, tensor, Fill::kMixed, true},
  };
  return cases;
}

TEST(ActQuantSimCases, PairwiseCoverIsComplete) {
  const std::vector<std::vector<int>> values = {{1, 7, 300}, {16, 48, 200, 1536}, {0, 1, 2}, {0, 1, 2}, {0, 1}, {0, 1, 2, 3, 4}};
  auto index = [](const DynCase& c) {
    return std::vector<int>{static_cast<int>(c.m),
                            static_cast<int>(c.k),
                            c.in == f32 ? 0 : c.in == f16 ? 1 : 2,
                            c.q == i8 ? 0 : c.q == e4m3 ? 1 : 2,
                            c.mode == tensor ? 0 : 1,
                            static_cast<int>(c.fill)};
  };
  std::set<std::tuple<int, int, int, int>> seen;
  for (const auto& c : dynamic_cases()) {
    const auto v = index(c);
    for (size_t a = 0; a < v.size(); ++a)
      for (size_t b = a + 1; b < v.size(); ++b) seen.insert({static_cast<int>(a), v[a], static_cast<int>(b), v[b]});
  }
  for (size_t a = 0; a < values.size(); ++a)
    for (size_t b = a + 1; b < values.size(); ++b)
      for (int va : values[a])
        for (int vb : values[b])
          EXPECT_TRUE(seen.count({static_cast<int>(a), va, static_cast<int>(b), vb}))
              << "dimensions " << a << " = " << va << " and " << b << " = " << vb << " never meet";
}

TEST_P(ActQuantSim, DynamicPerTensorAndGroup128BitIdentical) {
  auto driver = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch(GetParam()));
  const auto t0 = std::chrono::steady_clock::now();
  for (const DynCase& c : dynamic_cases()) {
    const std::string what = case_name(GetParam(), c);
    SCOPED_TRACE(what);
    const std::int64_t width = c.offset_view ? c.k + 3 : c.k;
    const Tensor wide = Tensor::from_vector<float>({c.m, width}, filled(c.m, width, c.fill)).to_dtype(c.in);
    const Tensor host = c.offset_view ? wide.slice(1, 1, c.k + 1) : wide;
    const auto view = reference::ActView{host.raw_data_ptr(), c.in, c.m, c.k, width};
    const Granularity g = c.mode == tensor ? Granularity::kPerTensor : Granularity::kGroup128;
    const auto want = reference::quantize_dynamic(view, c.q, g);
    const Tensor dev = c.offset_view ? wide.to(Device::sim(), driver).slice(1, 1, c.k + 1) : host.to(Device::sim(), driver);
    const auto got = quantize_activations(dev, c.q, c.mode);
    ASSERT_EQ(got.q.shape(), (std::vector<std::int64_t>{c.m, c.k}));
    const Tensor codes = got.q.to(Device::cpu());
    ASSERT_EQ(std::memcmp(codes.raw_data_ptr(), want.q.data(), want.q.size()), 0) << what;
    const std::vector<std::int64_t> scale_shape =
        c.mode == tensor ? std::vector<std::int64_t>{1} : std::vector<std::int64_t>{c.m, (c.k + 127) / 128};
    ASSERT_EQ(got.scales.shape(), scale_shape);
    const auto scales = got.scales.to(Device::cpu()).to_f32_vector();
    ASSERT_EQ(scales.size(), want.scales.size());
    for (size_t i = 0; i < scales.size(); ++i) {
      if (std::isnan(want.scales[i])) EXPECT_TRUE(std::isnan(scales[i])) << "scale " << i;
      else EXPECT_EQ(scales[i], want.scales[i]) << "scale " << i;
    }
  }
  const auto c = driver->total_counters();
  std::printf("%s per-tensor/group128: %zu cases, %.2f s, %llu thread-instructions\n", GetParam(),
              dynamic_cases().size(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
              static_cast<unsigned long long>(c.thread_instructions));
}

// The group128 pass that feeds the block-fp8 GEMM: the codes of quantize_activations and
// its scales transposed into the GEMM's K-major layout [ceil(K/128), round_up(M, 8)] (the
// padding is not compared: nothing reads it). Rows of specials (NaN, Inf, zeros, tiny), a
// partial last group, M not a multiple of 8, one row, and no rows.
TEST_P(ActQuantSim, Group128KMajorScalesAreTheTransposedLogicalOnes) {
  auto driver = std::make_shared<sim::SimDriver>(sim::SimDeviceConfig::for_arch(GetParam()));
  for (const Shape s : {Shape{1, 16}, Shape{13, 400}, Shape{9, 1536}, Shape{0, 256}}) {
    for (DType in : {DType::kF32, DType::kBF16}) {
      const QType q = in == DType::kF32 ? QType::kInt8 : QType::kE4M3;
      const std::string what = fmt::format("{} {}x{} {} -> {}", GetParam(), s.m, s.k, dtype_name(in), qtype_name(q));
      SCOPED_TRACE(what);
      const Tensor x =
          Tensor::from_vector<float>({s.m, s.k}, rows_with_specials(s.m, s.k)).to_dtype(in).to(Device::sim(), driver);
      const QuantizedActivations logical = quantize_activations(x, q, ActScale::kDynamicGroup128);
      const QuantizedActivations k_major = quantize_group128_k_major(x, q);
      const std::int64_t groups = (s.k + 127) / 128, ld = (s.m + 7) / 8 * 8;
      ASSERT_EQ(k_major.q.shape(), logical.q.shape());
      ASSERT_EQ(k_major.scales.shape(), (std::vector<std::int64_t>{groups, ld}));
      const Tensor a = logical.q.to(Device::cpu()), b = k_major.q.to(Device::cpu());
      EXPECT_EQ(std::memcmp(a.raw_data_ptr(), b.raw_data_ptr(), a.nbytes()), 0) << what;
      const auto want = logical.scales.to(Device::cpu()).to_f32_vector();
      const auto got = k_major.scales.to(Device::cpu()).to_f32_vector();
      for (std::int64_t r = 0; r < s.m; ++r) {
        for (std::int64_t g = 0; g < groups; ++g) {
          const float w = want[r * groups + g], v = got[g * ld + r];
          EXPECT_TRUE(std::memcmp(&w, &v, 4) == 0 || (std::isnan(w) && std::isnan(v))) << r << ", " << g;
        }
      }
    }
  }
  const std::string err = [] {
    try {
      quantize_group128_k_major(Tensor::zeros({2, 128}, DType::kBF16), QType::kE4M3);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  }();
  EXPECT_NE(err.find("must be on sim or cuda"), std::string::npos) << err;
}

INSTANTIATE_TEST_SUITE_P(Archs, ActQuantSim, ::testing::Values("sm_80", "sm_89", "sm_90"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace qjit
