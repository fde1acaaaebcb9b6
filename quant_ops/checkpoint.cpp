// Quantized checkpoints (checkpoint.hpp): the tensor names and the metadata layout.

#include "quant_ops/checkpoint.hpp"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "common/error.hpp"
#include "quant_ops/quant_linear.hpp"
#include "quant_ops/rule.hpp"
#include "runtime/linear.hpp"
#include "runtime/safetensors.hpp"

namespace qjit {
namespace {

constexpr const char* kSub = "checkpoint";
using ordered_json = nlohmann::ordered_json;

std::string shape_str(const std::vector<std::int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// The scales as the file holds them: per_channel [N, 1] (see the NOTE in the header).
Tensor stored_scales(const QuantizedWeight& w) {
  if (w.granularity == Granularity::kPerChannel) return w.scales.contiguous().reshape({w.n(), 1});
  return w.scales;
}

// Everything one listed layer becomes, built before the model is touched.
struct Pending {
  std::string path;
  std::shared_ptr<QuantLinear> layer;
};

// Runs f, re-raising its qjit::Error with the file and the layer in front.
template <typename F>
auto in_layer(const std::filesystem::path& file, const std::string& layer, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    QJIT_THROW(kSub, "{}: layer '{}': {}", file.string(), layer, e.message());
  }
}

}  // namespace

void save_quantized_checkpoint(const std::filesystem::path& path, Module& model) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  ordered_json layers = ordered_json::object();
  for (auto& [name, layer] : model.modules_of_type<LinearLayer>()) {
    if (auto* ql = dynamic_cast<QuantLinear*>(layer)) {
      tensors.emplace_back(name + ".weight", ql->weight().q);
      tensors.emplace_back(name + ".weight_scale", stored_scales(ql->weight()));
      if (ql->act_scale()) tensors.emplace_back(name + ".input_scale", ql->act_scale()->reshape({1}));
      if (ql->bias()) tensors.emplace_back(name + ".bias", *ql->bias());
      // NOTE: the rule's text comes from the resolved rule's fields (Rule::str() of them),
      // not its label: a label may be a name ("int8") that says nothing about granularities.
      const ResolvedRule& r = ql->rule();
      Rule rule{.weight = std::string(qtype_name(r.weight)),
                .act = std::string(qtype_name(r.act)),
                .act_static_scale = r.act_static_scale,
                .weight_granularity = std::string(granularity_name(r.weight_granularity)),
                .act_granularity = r.act == QType::kNone ? std::string() : std::string(granularity_name(r.act_granularity)),
                .out_dtype = std::string(dtype_name(r.out_dtype))};
      layers[name] = {{"rule", rule.str()}};
    } else if (auto* lin = dynamic_cast<Linear*>(layer)) {
      tensors.emplace_back(name + ".weight", lin->weight());
      if (lin->bias()) tensors.emplace_back(name + ".bias", *lin->bias());
    } else {
      QJIT_THROW(kSub, "{}: layer '{}' is a {}, which a checkpoint cannot hold (only Linear and QuantLinear)",
                 path.string(), name, layer->type_name());
    }
  }
  const ordered_json meta = {{"format_version", kQuantizedCheckpointVersion}, {"layers", layers}};
  save_safetensors(path, tensors,
                   {{std::string(kCheckpointVersionKey), std::to_string(kQuantizedCheckpointVersion)},
                    {std::string(kCheckpointQuantizationKey), meta.dump()}});
}

std::vector<std::string> load_quantized_checkpoint(const std::filesystem::path& path, Module& model) {
  const std::string file = path.string();
  const SafetensorsFile st = SafetensorsFile::open(path);

  // The metadata: version, then the JSON list of layers and rules.
  const auto& md = st.metadata();
  const auto version = md.find(std::string(kCheckpointVersionKey));
  QJIT_CHECK_GEN(kSub, version != md.end(), "{}: no '{}' in __metadata__: not a qjit quantized checkpoint", file,
                 kCheckpointVersionKey);
  QJIT_CHECK_GEN(kSub, version->second == std::to_string(kQuantizedCheckpointVersion),
                 "{}: format version '{}' in __metadata__; this qjit reads version {}", file, version->second,
                 kQuantizedCheckpointVersion);
  const auto quant = md.find(std::string(kCheckpointQuantizationKey));
  QJIT_CHECK_GEN(kSub, quant != md.end(), "{}: no '{}' in __metadata__", file, kCheckpointQuantizationKey);
  ordered_json meta;
  try {
    meta = ordered_json::parse(quant->second);
  } catch (const ordered_json::exception& e) {
    QJIT_THROW(kSub, "{}: __metadata__ '{}' is not valid JSON: {}", file, kCheckpointQuantizationKey, e.what());
  }
  QJIT_CHECK_GEN(kSub, meta.is_object() && meta.contains("layers") && meta["layers"].is_object(),
                 "{}: __metadata__ '{}' must be a JSON object with a \"layers\" object", file,
                 kCheckpointQuantizationKey);
  QJIT_CHECK_GEN(kSub,
                 meta.contains("format_version") && meta["format_version"].is_number_integer() &&
                     meta["format_version"].get<int>() == kQuantizedCheckpointVersion,
                 "{}: __metadata__ '{}' needs \"format_version\": {}", file, kCheckpointQuantizationKey,
                 kQuantizedCheckpointVersion);

  std::vector<Pending> pending;
  for (const auto& item : meta["layers"].items()) {
    // NOTE: named copies, not a structured binding: lambdas below capture them (clang 14).
    const std::string name = item.key();
    const auto& entry = item.value();
    QJIT_CHECK_GEN(kSub, entry.is_object() && entry.contains("rule") && entry["rule"].is_string(),
                   "{}: layer '{}': its __metadata__ entry must be {{\"rule\": \"<rule text>\"}}", file, name);
    const std::string text = entry["rule"].get<std::string>();
    // NOTE: only the field-list form is read, so a file's metadata can never make qjit open
    // another file (a rules file path) or depend on a preset table that may change.
    const ResolvedRule rule = in_layer(path, name, [&] {
      const RuleSet set = Rule::parse(text);
      QJIT_CHECK_GEN(kSub, set.form == RuleForm::kFields && set.rules.size() == 1,
                     "rule '{}' must be one comma list of fields", text);
      return set.rules.front().resolve();
    });
    QJIT_CHECK_GEN(kSub, !rule.skips(), "{}: layer '{}': rule '{}' quantizes nothing", file, name, text);

    // The model's layer.
    QJIT_CHECK_GEN(kSub, !name.empty() && model.contains(name),
                   "{}: layer '{}' (in __metadata__) is not a module of the model", file, name);
    auto* target = dynamic_cast<LinearLayer*>(&model.at(name));
    QJIT_CHECK_GEN(kSub, target != nullptr, "{}: layer '{}' is a {} in the model, not a linear layer", file, name,
                   model.at(name).type_name());
    const std::int64_t n = target->out_features(), k = target->in_features();

    // The tensors.
    const auto tensor = [&](const std::string& suffix) -> std::optional<Tensor> {
      const std::string t = name + suffix;
      if (!st.has(t)) return std::nullopt;
      return in_layer(path, name, [&] { return st.get(t); });
    };
    const auto required = [&](const std::string& suffix) {
      std::optional<Tensor> t = tensor(suffix);
      QJIT_CHECK_GEN(kSub, t.has_value(), "{}: layer '{}': tensor '{}{}' is missing", file, name, name, suffix);
      return *t;
    };
    const Tensor q = required(".weight");
    QJIT_CHECK_GEN(kSub, q.shape() == (std::vector<std::int64_t>{n, k}),
                   "{}: layer '{}': tensor '{}.weight' is {}, the model's layer is [{}, {}] (N, K)", file, name, name,
                   shape_str(q.shape()), n, k);
    const Tensor scales = required(".weight_scale");
    const QuantizedWeight w = in_layer(path, name, [&] {
      try {
        return quantized_weight_from(q, scales, rule);
      } catch (const Error& e) {
        QJIT_THROW(kSub, "tensors '{}.weight', '{}.weight_scale': {}", name, name, e.message());
      }
    });

    std::optional<Tensor> act_scale = tensor(".input_scale");
    QJIT_CHECK_GEN(kSub, act_scale.has_value() == rule.act_static_scale,
                   "{}: layer '{}': tensor '{}.input_scale' {} (rule '{}' {} static activation scale)", file, name, name,
                   act_scale ? "is present" : "is missing", text, rule.act_static_scale ? "has a" : "has no");
    if (act_scale) {
      QJIT_CHECK_GEN(kSub, act_scale->dtype() == DType::kF32 && act_scale->numel() == 1,
                     "{}: layer '{}': tensor '{}.input_scale' is {} {}, expected one f32 value", file, name, name,
                     dtype_name(act_scale->dtype()), shape_str(act_scale->shape()));
      act_scale = act_scale->reshape({1});
    }
    const std::optional<Tensor> bias = tensor(".bias");
    if (bias) {
      QJIT_CHECK_GEN(kSub, bias->shape() == (std::vector<std::int64_t>{n}),
                     "{}: layer '{}': tensor '{}.bias' is {}, expected [{}]", file, name, name, shape_str(bias->shape()),
                     n);
    }

    DType high = DType::kBF16;
    std::optional<Tensor> where;  // a tensor of the layer being replaced: its device and driver
    if (auto* lin = dynamic_cast<Linear*>(target)) high = lin->weight().dtype(), where = lin->weight();
    if (auto* ql = dynamic_cast<QuantLinear*>(target)) high = ql->high_precision(), where = ql->weight().q;
    // The loaded layer lives where the layer it replaces lived (the model's device), so its
    // forward copies nothing per call.
    const auto placed = [&](const Tensor& t) {
      if (!where || where->device().is_host()) return t;
      return t.contiguous().to(where->device(), where->driver());
    };
    QuantizedWeight wd = w;
    wd.q = placed(w.q);
    wd.scales = placed(w.scales);
    auto layer = in_layer(path, name, [&] {
      return std::make_shared<QuantLinear>(wd, bias ? std::optional<Tensor>(placed(*bias)) : std::nullopt, rule,
                                           target->gelu_tanh(),
                                           act_scale ? std::optional<Tensor>(placed(*act_scale)) : std::nullopt, high);
    });

    // The parent's slot must take a QuantLinear, or replace() would fail half-way.
    const auto dot = name.rfind('.');
    Module& parent = dot == std::string::npos ? model : model.at(name.substr(0, dot));
    const std::string child = dot == std::string::npos ? name : name.substr(dot + 1);
    for (const Module::Child& c : parent.children()) {
      if (c.name != child) continue;
      QJIT_CHECK_GEN(kSub, c.accepts(*layer), "{}: layer '{}': its parent's slot takes a {}, not a QuantLinear", file,
                     name, c.interface_name);
    }
    pending.push_back({name, std::move(layer)});
  }

  std::vector<std::string> replaced;
  for (Pending& p : pending) {
    model.replace(p.path, std::move(p.layer));
    replaced.push_back(p.path);
  }
  return replaced;
}

}  // namespace qjit
