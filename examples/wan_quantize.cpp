// Quantizing the Wan2.1 DiT the way a user would: seeded synthetic weights (or a checkpoint in
// either naming), a DAX-style config written with diffusers' module names (skip the
// condition embedder and the output projection, int8 W8A8 everywhere else), one forward, and
// its accuracy against the unquantized model.
//   example_wan_quantize [cpu|sim|cuda] [wan2.1-tiny|wan2.1-1.3b] [checkpoint.safetensors]

#include <cstdio>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "quant_ops/accuracy.hpp"
#include "quant_ops/dax_config.hpp"
#include "runtime/models/wan_checkpoint.hpp"
#include "runtime/models/wan_model.hpp"
#include "runtime/models/wan_synthetic.hpp"

int main(int argc, char** argv) {
  try {
    const qjit::Device device = qjit::Device::parse(argc > 1 ? argv[1] : "cpu");
    qjit::WanConfig config = qjit::WanConfig::by_name(argc > 2 ? argv[2] : "wan2.1-tiny");
    config.layers = std::min<std::int64_t>(config.layers, 2);  // a short model is enough to see the effect
    const auto weights = argc > 3 ? qjit::load_wan_weights(argv[3], config) : qjit::wan_synthetic_weights(config, 1);

    qjit::WanModel reference(config, weights, device), model(config, weights, device);
    const qjit::ApplyReport report =
        qjit::DaxConfig{.entries = {{"", qjit::Rule{.weight = "int8", .act = "int8"}},
                                    {"condition_embedder", std::nullopt},
                                    {"proj_out", std::nullopt}}}
            .apply(model);
    std::printf("%s", report.str().c_str());

    const qjit::WanInputs in = qjit::wan_synthetic_inputs(config, 1, 1, 8, 8, 16, 2);
    const qjit::Tensor want = reference.forward(in.latents, in.timesteps, in.context);
    const qjit::Tensor got = model.forward(in.latents, in.timesteps, in.context);
    const qjit::AccuracyMetrics m = qjit::compare_outputs(got, want);
    std::printf("%s on %s: velocity %s, cosine %.6f, SNR %.1f dB against the unquantized model\n",
                config.name.c_str(), device.str().c_str(), got.describe().c_str(), m.cosine, m.snr_db);
    return 0;
  } catch (const qjit::Error& e) {
    std::fprintf(stderr, "example_wan_quantize: %s\n", e.what());
    return 1;
  }
}
