// qjit linear: one linear layer from safetensors inputs to a safetensors output (DESIGN.md
// section 7), the interchange point for checking qjit against other tools. Reads every
// input and validates everything (rule, names, shapes, dtypes, scales) before any work,
// quantizes the weights per the rule (or takes pre-quantized ones), runs quant_ops'
// linear_forward on the device, writes the output and, on request, the quantized operands.
// Tensor names: README.md, section "qjit linear".

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli_device.hpp"
#include "cli_files.hpp"
#include "commands.hpp"
#include "common/error.hpp"
#include "quant_ops/linear.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/device.hpp"
#include "runtime/kernels.hpp"
#include "runtime/safetensors.hpp"

namespace qjit::cli {

namespace {

// The documented tensor names (README.md, "qjit linear"); vLLM's names where it has one.
constexpr const char* kInputName = "input";
constexpr const char* kWeightName = "weight";
constexpr const char* kWeightScaleName = "weight_scale";
constexpr const char* kInputScaleName = "input_scale";
constexpr const char* kBiasName = "bias";
constexpr const char* kOutputName = "output";
constexpr const char* kInputQName = "input_q";

struct LinearFlags {
  std::string weight, input, rule, out;
  std::string device;  // empty: QJIT_DEVICE, else cpu
  std::string bias, weight_scale, act_scale, dump;
  std::string out_dtype;
  bool gelu = false;
  bool json = false;
};

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// The tensor of `file` for option `option`: the only one a single-tensor file holds,
// whatever its name, else the one named `name`.
Tensor read_tensor(const std::string& option, const std::string& path, const char* name) {
  try {
    const SafetensorsFile f = SafetensorsFile::open(path);
    QJIT_CHECK_GEN("linear", f.size() > 0, "the file holds no tensor (expected '{}')", name);
    if (f.size() == 1) return f.get(f.names().front());
    if (f.has(name)) return f.get(name);
    std::string found;
    for (const auto& n : f.names()) found += (found.empty() ? "'" : ", '") + n + "'";
    QJIT_THROW("linear",
               "the file holds {} tensors ({}) and none is named '{}': a file of several tensors must name "
               "this one '{}'",
               f.size(), found, name, name);
  } catch (const Error& e) {
    QJIT_THROW("linear", "{} {}: {}", option, path, e.message());
  }
}

nlohmann::json describe_json(const Tensor& t) {
  return {{"shape", t.shape()}, {"dtype", std::string(dtype_name(t.dtype()))}};
}

void write_dump(const LinearFlags& f, const Tensor& x, const QuantizedWeight& w, const ResolvedRule& rule,
                const std::optional<Tensor>& act_scale, nlohmann::json& summary) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::map<std::string, std::string> meta = {{"rule", rule.label},
                                             {"weight_qtype", std::string(qtype_name(w.qtype))},
                                             {"weight_granularity", std::string(granularity_name(w.granularity))}};
  if (rule.act != QType::kNone) {
    const QuantizedActivations qa = quantize_linear_input(x, rule, act_scale);
    tensors.emplace_back(kInputQName, qa.q);
    tensors.emplace_back(kInputScaleName, qa.scales);
    meta["act_qtype"] = std::string(qtype_name(rule.act));
    meta["act_granularity"] = std::string(granularity_name(rule.act_granularity));
    meta["act_scale"] = rule.act_static_scale ? "static" : "dynamic";
  }
  tensors.emplace_back(kWeightName, w.q.to(Device::cpu()));
  tensors.emplace_back(kWeightScaleName, w.scales.to(Device::cpu()));
  save_safetensors(f.dump, tensors, meta);
  nlohmann::json d = nlohmann::json::object();
  for (const auto& [name, t] : tensors) d[name] = describe_json(t);
  summary["dump"] = {{"path", f.dump}, {"tensors", d}};
}

void run(const LinearFlags& f) {
  const auto start = Clock::now();
  auto progress = [&](int step, const std::string& what) {
    if (!f.json) std::fprintf(stderr, "[%d/4] %s\n", step, what.c_str());
  };

  // 1. Everything read and validated before any work.
  progress(1, "reading inputs");
  const RuleSet rules = Rule::parse(f.rule);
  QJIT_CHECK_GEN("linear", rules.rules.size() == 1,
                 "--rule {}: holds {} rules; one linear layer takes exactly one (its module_path is not matched)",
                 f.rule, rules.rules.size());
  const ResolvedRule rule = rules.rules.front().resolve();
  for (const auto& note : rules.notes()) std::fprintf(stderr, "qjit linear: %s\n", note.c_str());
  QJIT_CHECK_GEN("linear", !rule.skips(),
                 "--rule {}: weight none keeps the layer in high precision; qjit linear runs quantized layers", f.rule);
  const Tensor x_host = read_tensor("--input", f.input, kInputName);
  const Tensor w_host = read_tensor("--weight", f.weight, kWeightName);
  const DType wt = w_host.dtype();
  const bool prequantized = wt == DType::kI8 || wt == DType::kE4M3 || wt == DType::kE5M2;
  QJIT_CHECK_GEN("linear", prequantized || wt == DType::kF32 || wt == DType::kF16 || wt == DType::kBF16,
                 "--weight {}: weights must be f32, f16 or bf16 (quantized by qjit) or int8 / fp8 codes (with "
                 "--weight-scale), got {}",
                 f.weight, w_host.describe());
  if (prequantized) {
    QJIT_CHECK_GEN("linear", !f.weight_scale.empty(),
                   "--weight {}: the weights are already quantized ({}); give their scales with --weight-scale",
                   f.weight, w_host.describe());
  } else {
    QJIT_CHECK_GEN("linear", f.weight_scale.empty(),
                   "--weight-scale is for pre-quantized weights, but --weight {} holds {} weights, which qjit "
                   "quantizes itself",
                   f.weight, w_host.describe());
  }
  LinearOptions options;
  if (!f.bias.empty()) options.bias = read_tensor("--bias", f.bias, kBiasName);
  if (!f.act_scale.empty()) options.act_scale = read_tensor("--act-scale", f.act_scale, kInputScaleName);
  if (rule.act_static_scale && !options.act_scale) {
    QJIT_THROW("linear",
               "--rule {}: the rule has a static activation scale (act_static_scale=true): give it with --act-scale",
               f.rule);
  }
  if (!rule.act_static_scale && options.act_scale) {
    QJIT_THROW("linear",
               "--act-scale {}: rule '{}' quantizes activations {}; --act-scale is for rules with "
               "act_static_scale=true",
               f.act_scale, rule.label, rule.act == QType::kNone ? "not at all (weight-only)" : "dynamically");
  }
  if (!f.out_dtype.empty()) {
    const DType t = parse_dtype(f.out_dtype);
    QJIT_CHECK_GEN("linear", t == DType::kBF16 || t == DType::kF16 || t == DType::kF32,
                   "--out-dtype {}: expected bf16, f16 or f32", f.out_dtype);
    options.out_dtype = t;
  }
  if (f.gelu) options.activation = reference::Activation::kGeluTanh;
  std::optional<QuantizedWeight> given;
  if (prequantized) {
    try {
      given = quantized_weight_from(w_host, read_tensor("--weight-scale", f.weight_scale, kWeightScaleName), rule);
    } catch (const Error& e) {
      QJIT_THROW("linear", "--weight {} / --weight-scale {}: {}", f.weight, f.weight_scale, e.message());
    }
  }
  // The outputs, so that a typo, a special file or an output that is an input fails now
  // rather than after the work (or after destroying the input).
  check_outputs("linear", {{"--out", f.out}, {"--dump-quantized", f.dump}},
                {{"--rule", f.rule},
                 {"--input", f.input},
                 {"--weight", f.weight},
                 {"--weight-scale", f.weight_scale},
                 {"--act-scale", f.act_scale},
                 {"--bias", f.bias}});
  const Device device = parse_device_flag(f.device, "linear");
  const Tensor x = device.is_host() ? x_host : x_host.to(device);
  check_linear(x, w_host, rule, options);

  // 2. Weights.
  progress(2, prequantized ? "taking the pre-quantized weights" : "quantizing the weights");
  const auto t_quant = Clock::now();
  const QuantizedWeight w = given ? *given : quantize_weight(w_host, rule);
  const double quantize_ms = ms_since(t_quant);

  // 3. The layer.
  progress(3, fmt::format("running the linear layer on {} ({} family)", device.str(),
                          reference::gemm_family_name(linear_family(rule))));
  LinearTrace trace;
  const auto t_forward = Clock::now();
  const Tensor y = linear_forward(x, w, rule, options, &trace).to(Device::cpu());
  const double forward_ms = ms_since(t_forward);

  // 4. Outputs.
  progress(4, "writing " + f.out);
  save_safetensors(f.out, {{kOutputName, y}}, {{"rule", rule.label}, {"device", trace.device}});
  nlohmann::json summary = {
      {"rule", rule.label},
      {"rule_form", std::string(rule_form_name(rules.form))},
      {"weight_qtype", std::string(qtype_name(rule.weight))},
      {"weight_granularity", std::string(granularity_name(rule.weight_granularity))},
      {"act_qtype", std::string(qtype_name(rule.act))},
      {"act_granularity", rule.act == QType::kNone ? "none" : std::string(granularity_name(rule.act_granularity))},
      {"act_scale", rule.act == QType::kNone ? "none"
                    : rule.act_static_scale  ? "static"
                                             : "dynamic"},
      {"family", std::string(reference::gemm_family_name(trace.family))},
      {"device", trace.device},
      {"arch", trace.arch},
      {"kernels", trace.steps},
      {"input", describe_json(x_host)},
      {"weight", describe_json(w_host)},
      {"weight_prequantized", prequantized},
      {"weight_scale", describe_json(w.scales)},
      {"bias", options.bias ? describe_json(*options.bias) : nlohmann::json()},
      {"activation", std::string(reference::activation_name(options.activation))},
      {"output", {{"path", f.out}, {"shape", y.shape()}, {"dtype", std::string(dtype_name(y.dtype()))}}},
  };
  if (!f.dump.empty()) write_dump(f, x_host, w, rule, options.act_scale, summary);
  summary["time_ms"] = {{"quantize_weight", quantize_ms}, {"forward", forward_ms}, {"total", ms_since(start)}};
  if (f.json) {
    fmt::print("{}\n", summary.dump(2));
    return;
  }
  std::string kernels;
  for (const auto& s : trace.steps) kernels += (kernels.empty() ? "" : ", ") + s;
  fmt::print("rule     {} ({} family)\ndevice   {}{}\nkernels  {}\ninput    {}\nweight   {}{}\noutput   {} -> {}\n",
             rule.label, reference::gemm_family_name(trace.family), trace.device,
             trace.arch.empty() ? "" : " (" + trace.arch + ")", kernels, x_host.describe(), w_host.describe(),
             prequantized ? " (pre-quantized)" : "", y.describe(), f.out);
  if (!f.dump.empty()) fmt::print("dump     {}\n", f.dump);
  fmt::print("time     {:.1f} ms (weights {:.1f} ms, forward {:.1f} ms, first call includes JIT compiles)\n",
             ms_since(start), quantize_ms, forward_ms);
}

}  // namespace

void add_linear(CLI::App& app) {
  auto flags = std::make_shared<LinearFlags>();
  auto* cmd = app.add_subcommand("linear", "run one linear layer from safetensors inputs to a safetensors output");
  cmd->add_option("--weight", flags->weight,
                  "weights [N, K] (tensor 'weight'): f32/f16/bf16, or int8/fp8 codes "
                  "with --weight-scale")
      ->required();
  cmd->add_option("--input", flags->input, "activations [..., K] (tensor 'input'): f32/f16/bf16")->required();
  cmd->add_option("--rule", flags->rule, "a preset, a field list, a LightX2V mm_type or a rules file of one rule")
      ->required();
  cmd->add_option("--out", flags->out, "output file (tensor 'output', [..., N])")->required();
  cmd->add_option("--device", flags->device, "cpu | sim | sim:sm_XX | cuda[:N] | auto (default: $QJIT_DEVICE, else cpu)");
  cmd->add_option("--bias", flags->bias, "bias [N] (tensor 'bias'): f32/f16/bf16");
  cmd->add_option("--weight-scale", flags->weight_scale,
                  "scales of pre-quantized weights (tensor 'weight_scale', f32, logical layout)");
  cmd->add_option("--act-scale", flags->act_scale,
                  "static activation scale (tensor 'input_scale', one f32 value); rules with act_static_scale only");
  cmd->add_option("--dump-quantized", flags->dump,
                  "also write the quantized operands: input_q, input_scale, weight, weight_scale");
  cmd->add_option("--out-dtype", flags->out_dtype, "bf16 | f16 | f32 (default: the rule's out_dtype)");
  cmd->add_flag("--gelu", flags->gelu, "apply GELU (tanh approximation) after the bias");
  cmd->add_flag("--json", flags->json, "print a JSON summary");
  cmd->callback([flags] { run(*flags); });
}

}  // namespace qjit::cli
