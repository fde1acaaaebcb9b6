#include "runtime/ops/host_attention.hpp"

#include <vector>

#include "common/error.hpp"
#include "jit/impls/host_attention.hpp"
#include "runtime/host_driver.hpp"
#include "runtime/kernels.hpp"

namespace qjit {

namespace {

jit::DeviceAddress address_of(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// t with its last dimension contiguous (a copy otherwise).
Tensor rows_of(const Tensor& t) { return t.size(2) <= 1 || t.stride(2) == 1 ? t : t.contiguous(); }

}  // namespace

bool host_attention_supports(const Tensor& q, std::int64_t heads) {
  return q.dtype() == DType::kBF16 && jit::impls::host_attention_head_dim_ok(q.size(2) / heads);
}

Tensor host_attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, std::int64_t heads, float scale,
                      DType out) {
  const std::int64_t batch = q_in.size(0), sq = q_in.size(1), skv = k_in.size(1), width = q_in.size(2);
  const std::int64_t dh = width / heads;
  const Tensor q = rows_of(q_in), v = rows_of(v_in), k = k_in.contiguous();
  // The keys in panels of 16 per (batch, head): [ceil(Skv / 16)][Dh / 2][16][2], zero beyond Skv.
  const std::int64_t panels = (skv + 15) / 16;
  thread_local std::vector<std::uint16_t> packed;
  packed.assign(static_cast<std::size_t>(batch * heads * panels * dh * 16), 0);
  const auto* kb = static_cast<const std::uint16_t*>(k.raw_data_ptr());
  for (std::int64_t b = 0; b < batch; ++b) {
    for (std::int64_t h = 0; h < heads; ++h) {
      std::uint16_t* dst = packed.data() + (b * heads + h) * panels * dh * 16;
      for (std::int64_t j = 0; j < skv; ++j) {
        const std::uint16_t* src = kb + (b * skv + j) * width + h * dh;
        std::uint16_t* panel = dst + (j / 16) * dh * 16 + (j % 16) * 2;
        for (std::int64_t d = 0; d < dh; d += 2) {
          panel[d * 16] = src[d];
          panel[d * 16 + 1] = src[d + 1];
        }
      }
    }
  }
  Tensor y = Tensor::empty({batch, sq, width}, out, Device::cpu());
  if (batch == 0 || sq == 0) return y;
  const jit::impls::HostAttentionDesc desc{static_cast<int>(dh), out, jit::impls::host_isa()};
  const jit::impls::HostAttentionConfig config;
  jit::impls::HostAttentionParams p;
  p.q = address_of(q.raw_data_ptr());
  p.q_row_stride = q.stride(1);
  p.q_batch_stride = q.stride(0);
  p.k_packed = address_of(packed.data());
  p.v = address_of(v.raw_data_ptr());
  p.v_row_stride = v.stride(1);
  p.v_batch_stride = v.stride(0);
  p.out = address_of(y.raw_data_ptr());
  p.o_row_stride = width;
  p.o_batch_stride = sq * width;
  p.scale = scale;
  p.sq = static_cast<std::int32_t>(sq);
  p.skv = static_cast<std::int32_t>(skv);
  p.heads = static_cast<std::int32_t>(heads);
  LaunchConfig launch;
  launch.grid = {static_cast<unsigned>((sq + config.mq - 1) / config.mq), static_cast<unsigned>(heads),
                 static_cast<unsigned>(batch)};
  KernelCache::global()
      .get(host_driver(), jit::impls::host_attention_spec(desc, config), jit::impls::kHostAttention)
      .launch(launch, p);
  return y;
}

}  // namespace qjit
