// qjit rules explain end to end: the rule each Wan2.1 linear layer gets and why (first match
// wins, weight none skips, no match keeps), DAX-style configs (nearest entry, inheritance,
// skips), unused rules and entries, mm_type backend notes, text and
// --json, the 14B model from shapes alone, static scales from a safetensors file, and the errors (exit status 1, a message naming
// the option, model, rule or layer).

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "../jit/test_util.hpp"
#include "runtime/models/wan_config.hpp"
#include "runtime/safetensors.hpp"
#include "runtime/tensor.hpp"
#include "tests/tools/cli_run.hpp"

namespace {

// stdout, then stderr when `with_stderr`.
qjit::test::CliResult qjit_cmd(const std::string& args, bool with_stderr = false) {
  qjit::test::CliResult r = qjit::test::run_qjit(args);
  if (with_stderr) r.out += r.err;
  return r;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The text table's line for `path` (the line that starts with it and a space).
std::string line_of(const std::string& out, const std::string& path) {
  const std::regex line("(^|\n)(" + path + " [^\n]*)");
  std::smatch m;
  return std::regex_search(out, m, line) ? m[2].str() : std::string();
}

const char* kKeepEnds = R"('module_path=head\..*|text_embedding\..*,weight=none,name=keep-ends')";

TEST(RulesCli, ExplainTextFirstMatchSkipsAndUnused) {
  const auto o = qjit_cmd(std::string("rules explain --model wan2.1-1.3b --blocks 1 --rule ") + kKeepEnds +
                          " --rule int8 --rule 'module_path=blocks\\.0\\.ffn\\..*,weight=fp8'");
  ASSERT_EQ(o.code, 0) << o.out;
  EXPECT_TRUE(has(o.out, "model wan2.1-1.3b (1 blocks, 16 linear layers)")) << o.out;
  EXPECT_TRUE(has(o.out, "rule 1 'int8': module_path .*: int8 per_channel x int8 per_token dynamic -> bf16")) << o.out;
  EXPECT_TRUE(has(line_of(o.out, "text_embedding.0"), "skipped (weight none): rule 0 'keep-ends' matched")) << o.out;
  EXPECT_TRUE(has(line_of(o.out, "head.head"), "[64, 1536]")) << o.out;
  EXPECT_TRUE(has(line_of(o.out, "head.head"), "skipped")) << o.out;
  // The ffn rule comes after int8, which already matched every block layer: first match wins.
  EXPECT_TRUE(has(line_of(o.out, "blocks.0.ffn.0"), "quantized  rule 1 'int8' matched")) << o.out;
  EXPECT_TRUE(has(line_of(o.out, "blocks.0.ffn.0"), "[8960, 1536]")) << o.out;
  EXPECT_TRUE(has(o.out, "unused: rule 2 'module_path=blocks\\.0\\.ffn\\..*,weight=fp8_e4m3' (no layer got it)"))
      << o.out;
  EXPECT_TRUE(has(o.out, "13 quantized, 3 skipped, 0 kept")) << o.out;
}

// Diffusers' names select the same layers (issue 5's DAX example skips condition_embedder and
// proj_out), and every layer is listed with its diffusers name too.
TEST(RulesCli, ExplainWithDiffusersNames) {
  const auto o = qjit_cmd(R"(rules explain --model wan2.1-1.3b --blocks 1 --dax '{"": "int8", "condition_embedder": null, "proj_out": null}')");
  ASSERT_EQ(o.code, 0) << o.out;
  EXPECT_TRUE(has(line_of(o.out, "time_embedding.2"), "condition_embedder.time_embedder.linear_2")) << o.out;
  EXPECT_TRUE(has(line_of(o.out, "time_embedding.2"), "skipped (none): inherited from parent 'condition_embedder'"))
      << o.out;
  EXPECT_TRUE(has(line_of(o.out, "head.head"), "skipped (none): own entry (as 'proj_out')")) << o.out;
  EXPECT_TRUE(has(line_of(o.out, "blocks.0.self_attn.q"), "blocks.0.attn1.to_q")) << o.out;
  EXPECT_TRUE(has(o.out, "every config entry was used")) << o.out;
  EXPECT_TRUE(has(o.out, "10 quantized, 6 skipped, 0 kept")) << o.out;
  const auto j = qjit_cmd("rules explain --model wan2.1-1.3b --blocks 1 --json --rule "
                          "'module_path=blocks\\.\\d+\\.ffn\\.net\\..*,weight=none' --rule int8");
  ASSERT_EQ(j.code, 0) << j.out;
  const auto doc = nlohmann::json::parse(j.out);
  for (const auto& l : doc["layers"]) {
    if (l["path"] == "blocks.0.ffn.2") {
      EXPECT_EQ(l["diffusers"], "blocks.0.ffn.net.2");
      EXPECT_EQ(l["outcome"], "skipped");
      EXPECT_TRUE(has(l["why"].get<std::string>(), "(as 'blocks.0.ffn.net.2')")) << l.dump();
    }
  }
}

TEST(RulesCli, ExplainKeptAndMmTypeNote) {
  const auto o = qjit_cmd(
      "rules explain --model wan2.1-1.3b --blocks 2 "
      "--rule 'mm_type=W-int8-channel-sym-A-int8-channel-sym-dynamic-Vllm,module_path=blocks\\.1\\..*'");
  ASSERT_EQ(o.code, 0) << o.out;
  EXPECT_TRUE(has(o.out, "note: mm_type backend 'Vllm' ignored")) << o.out;
  EXPECT_TRUE(has(line_of(o.out, "blocks.0.self_attn.q"), "kept       no rule matched (kept)")) << o.out;
  EXPECT_TRUE(has(line_of(o.out, "blocks.1.self_attn.q"),
                  "rule 0 'W-int8-channel-sym-A-int8-channel-sym-dynamic-Vllm' matched"))
      << o.out;
  EXPECT_TRUE(has(o.out, "every rule was used")) << o.out;
  EXPECT_TRUE(has(o.out, "10 quantized, 0 skipped, 16 kept")) << o.out;
}

// Every layer of the full 1.3B model, in wan_linear_shapes' order, gets the rule a plain
// first-match over the same regexes picks, and the bytes the formats say.
TEST(RulesCli, ExplainJsonEveryLayerOfTheModel) {
  const auto o = qjit_cmd(std::string("rules explain --json --model wan2.1-1.3b --rule ") + kKeepEnds +
                          " --rule 'module_path=blocks\\.[0-9]*[05]\\.ffn\\..*,weight=fp8,act=none'"
                          " --rule 'module_path=blocks\\..*,preset=int8'");
  ASSERT_EQ(o.code, 0) << o.out;
  const auto j = nlohmann::json::parse(o.out);
  const auto shapes = qjit::wan_linear_shapes(qjit::WanConfig::wan_1_3b());
  ASSERT_EQ(shapes.size(), 5u + 30u * 10u + 1u);
  ASSERT_EQ(j.at("layers").size(), shapes.size());
  EXPECT_EQ(j.at("model"), "wan2.1-1.3b");
  EXPECT_EQ(j.at("blocks"), 30);
  ASSERT_EQ(j.at("rules").size(), 3u);
  EXPECT_EQ(j.at("rules")[1].at("act"), "none");
  EXPECT_EQ(j.at("rules")[2].at("label"), "int8");
  EXPECT_EQ(j.at("rules")[2].at("act_granularity"), "per_token");
  const std::vector<std::regex> regexes = {std::regex(R"(head\..*|text_embedding\..*)"),
                                           std::regex(R"(blocks\.[0-9]*[05]\.ffn\..*)"), std::regex(R"(blocks\..*)")};
  std::int64_t before = 0, after = 0;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const auto& l = j.at("layers")[i];
    const auto& s = shapes[i];
    ASSERT_EQ(l.at("path"), s.name);
    EXPECT_EQ(l.at("out_features"), s.out_features);
    EXPECT_EQ(l.at("in_features"), s.in_features);
    int expect = -1;
    for (int r = 0; r < 3 && expect < 0; ++r) {
      if (std::regex_match(s.name, regexes[r])) expect = r;
    }
    const std::int64_t nk = s.out_features * s.in_features;
    EXPECT_EQ(l.at("bytes_before"), 2 * nk) << s.name;  // bf16
    before += 2 * nk;
    if (expect < 0) {
      EXPECT_EQ(l.at("outcome"), "kept") << s.name;
      EXPECT_TRUE(l.at("rule_index").is_null()) << s.name;
      EXPECT_EQ(l.at("why"), "no rule matched (kept)");
      after += 2 * nk;
      ++kept;
      continue;
    }
    EXPECT_EQ(l.at("rule_index"), expect) << s.name;
    EXPECT_EQ(l.at("outcome"), expect == 0 ? "skipped" : "quantized") << s.name;
    // Quantized: one byte per element (int8 or fp8) plus one f32 scale per output channel.
    const std::int64_t b = expect == 0 ? 2 * nk : nk + 4 * s.out_features;
    EXPECT_EQ(l.at("bytes_after"), b) << s.name;
    after += b;
  }
  EXPECT_EQ(kept, 3u);  // time_embedding.0, time_embedding.2, time_projection.1
  EXPECT_EQ(j.at("counts").at("skipped"), 3);
  EXPECT_EQ(j.at("counts").at("quantized"), 300);
  EXPECT_EQ(j.at("counts").at("kept"), 3);
  EXPECT_EQ(j.at("bytes_before"), before);
  EXPECT_EQ(j.at("bytes_after"), after);
  EXPECT_TRUE(j.at("unused_rules").empty());
}

// The 14B model's 16 G parameters are never allocated: its layers are shape-only.
TEST(RulesCli, Explain14bFromShapes) {
  const auto o = qjit_cmd("rules explain --json --model wan2.1-14b --rule fp8-block128");
  ASSERT_EQ(o.code, 0) << o.out;
  const auto j = nlohmann::json::parse(o.out);
  const auto shapes = qjit::wan_linear_shapes(qjit::WanConfig::wan_14b());
  ASSERT_EQ(j.at("layers").size(), shapes.size());
  EXPECT_EQ(j.at("counts").at("quantized"), 406);
  std::int64_t before = 0, after = 0;
  for (const auto& s : shapes) {
    const std::int64_t n = s.out_features, k = s.in_features;
    before += 2 * n * k;
    after += n * k + 4 * ((n + 127) / 128) * ((k + 127) / 128);  // fp8 codes + one f32 scale per 128x128 block
  }
  EXPECT_EQ(j.at("bytes_before"), before);
  EXPECT_EQ(j.at("bytes_before"), 28566487040);
  EXPECT_EQ(j.at("bytes_after"), after);
}

// Static scales as LightX2V names them (<layer>.input_scale) reach apply's checks: every layer
// under a static rule needs one, and a scale for a layer that does not take one is refused.
TEST(RulesCli, ExplainStaticScalesFromFile) {
  qjit::test::TempDir dir;
  qjit::WanConfig config = qjit::WanConfig::wan_1_3b();
  config.layers = 1;
  std::vector<std::pair<std::string, qjit::Tensor>> all, missing_one;
  for (const auto& s : qjit::wan_linear_shapes(config)) {
    const qjit::Tensor scale = qjit::Tensor::from_vector<float>({1}, std::vector<float>{0.02f});
    all.emplace_back(s.name + ".input_scale", scale);
    if (s.name != "blocks.0.ffn.2") missing_one.emplace_back(s.name + ".input_scale", scale);
  }
  all.emplace_back("blocks.0.ffn.2.weight", qjit::Tensor::zeros({16, 16}, qjit::DType::kBF16));  // not read
  const std::string full = (dir.path() / "scales.safetensors").string();
  const std::string partial = (dir.path() / "partial.safetensors").string();
  qjit::save_safetensors(full, all);
  qjit::save_safetensors(partial, missing_one);

  const auto o = qjit_cmd("rules explain --model wan2.1-1.3b --blocks 1 --rule int8-static --act-scales " + full);
  ASSERT_EQ(o.code, 0) << o.out;
  EXPECT_TRUE(has(o.out, "static activation scales: 16 (from " + full + ")")) << o.out;
  EXPECT_TRUE(has(o.out, "rule 0 'int8-static': module_path .*: int8 per_channel x int8 per_tensor static -> bf16"))
      << o.out;
  EXPECT_TRUE(has(o.out, "16 quantized, 0 skipped, 0 kept")) << o.out;
  const auto j = nlohmann::json::parse(
      qjit_cmd("rules explain --json --model wan2.1-1.3b --blocks 1 --rule int8-static --act-scales " + full).out);
  EXPECT_EQ(j.at("act_scales"), 16);
  EXPECT_EQ(j.at("rules")[0].at("act_static_scale"), true);

  const auto gap = qjit_cmd("rules explain --model wan2.1-1.3b --blocks 1 --rule int8-static --act-scales " + partial,
                            /*with_stderr=*/true);
  EXPECT_EQ(gap.code, 1) << gap.out;
  EXPECT_TRUE(has(gap.out, "layer 'blocks.0.ffn.2', rule 0 'int8-static': the rule has a static activation scale"))
      << gap.out;
  // The ends kept in bf16 have scales they cannot use (the first, in path order, is named).
  const auto stray = qjit_cmd(std::string("rules explain --model wan2.1-1.3b --blocks 1 --rule ") + kKeepEnds +
                                  " --rule int8-static --act-scales " + full,
                              /*with_stderr=*/true);
  EXPECT_EQ(stray.code, 1) << stray.out;
  EXPECT_TRUE(has(stray.out, "has a scale for layer 'head.head', which is not quantized")) << stray.out;
  const std::string none = (dir.path() / "none.safetensors").string();
  qjit::save_safetensors(none, {{"weight", qjit::Tensor::zeros({16, 16}, qjit::DType::kBF16)}});
  const auto empty = qjit_cmd("rules explain --model wan2.1-1.3b --rule int8-static --act-scales " + none, true);
  EXPECT_EQ(empty.code, 1);
  EXPECT_TRUE(has(empty.out, "no tensor named <layer>.input_scale among its 1 tensors")) << empty.out;
}

TEST(RulesCli, ExplainDaxInheritsAndSkips) {
  const auto o = qjit_cmd(
      "rules explain --model wan2.1-1.3b --blocks 2 --dax '{\"\": \"int8\", \"text_embedding\": null, "
      "\"head\": null, \"blocks.1\": \"fp8-block128\", \"blocks.1.ffn.2\": \"weight=none\", "
      "\"time_embedding.0\": \"fp8\"}'");
  ASSERT_EQ(o.code, 0) << o.out;
  EXPECT_TRUE(has(o.out, "entry 'head': none (skip the subtree)")) << o.out;
  EXPECT_TRUE(has(o.out, "entry 'blocks.1': rule 'fp8-block128': fp8_e4m3 block128 x fp8_e4m3 group128 dynamic"))
      << o.out;
  EXPECT_TRUE(has(line_of(o.out, "text_embedding.2"), "skipped (none): inherited from parent 'text_embedding'"))
      << o.out;
  EXPECT_TRUE(has(line_of(o.out, "time_embedding.0"), "quantized  own entry: rule 'fp8'")) << o.out;
  EXPECT_TRUE(has(line_of(o.out, "time_embedding.2"), "inherited from the whole model's entry '': rule 'int8'"))
      << o.out;
  EXPECT_TRUE(has(line_of(o.out, "blocks.1.ffn.0"), "inherited from parent 'blocks.1': rule 'fp8-block128'"))
      << o.out;
  EXPECT_TRUE(has(line_of(o.out, "blocks.1.ffn.2"), "skipped (weight none): own entry: rule 'weight=none'")) << o.out;
  EXPECT_TRUE(has(o.out, "every config entry was used")) << o.out;
  EXPECT_TRUE(has(o.out, "22 quantized, 4 skipped, 0 kept")) << o.out;
}

TEST(RulesCli, ExplainDaxJsonFromFile) {
  qjit::test::TempDir dir;
  const std::string path = (dir.path() / "dax.json").string();
  std::ofstream(path) << R"({"": "W-int8-channel-sym-A-int8-channel-sym-dynamic-Vllm", "head": null,
    "blocks.0.ffn": "fp8", "blocks.0.ffn.0": null, "blocks.0.ffn.2": "int8-weight-only"})";
  const auto o = qjit_cmd("rules explain --json --model wan2.1-14b --blocks 1 --dax " + path);
  ASSERT_EQ(o.code, 0) << o.out;
  const auto j = nlohmann::json::parse(o.out);
  ASSERT_EQ(j.at("config").size(), 5u);
  EXPECT_EQ(j.at("config")[1].at("key"), "blocks.0.ffn");  // keys in sorted order
  EXPECT_EQ(j.at("config")[1].at("rule").at("weight"), "fp8_e4m3");
  EXPECT_TRUE(j.at("config")[4].at("rule").is_null());  // head
  // blocks.0.ffn covers only layers with entries of their own.
  EXPECT_EQ(j.at("unused_config_keys"), nlohmann::json::array({"blocks.0.ffn"}));
  EXPECT_EQ(j.at("notes"), nlohmann::json::array({"mm_type backend 'Vllm' ignored: qjit generates its own kernels"}));
  const auto shapes = qjit::wan_linear_shapes([] {
    auto c = qjit::WanConfig::wan_14b();
    c.layers = 1;
    return c;
  }());
  ASSERT_EQ(j.at("layers").size(), shapes.size());
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const auto& l = j.at("layers")[i];
    const std::string& name = shapes[i].name;
    const std::string key = name == "head.head"        ? "head"
                            : name.starts_with("blocks.0.ffn.") ? name
                                                                : "";
    EXPECT_EQ(l.at("config_key"), key) << name;
    EXPECT_TRUE(l.at("rule_index").is_null()) << name;
    if (key == "head" || key == "blocks.0.ffn.0") {
      EXPECT_EQ(l.at("outcome"), "skipped") << name;
      EXPECT_TRUE(l.at("rule_label").is_null()) << name;
    } else {
      EXPECT_EQ(l.at("outcome"), "quantized") << name;
      EXPECT_EQ(l.at("rule_label"), key.empty() ? "W-int8-channel-sym-A-int8-channel-sym-dynamic-Vllm"
                                                : "int8-weight-only")
          << name;
    }
  }
  EXPECT_EQ(j.at("counts").at("skipped"), 2);
  EXPECT_EQ(j.at("counts").at("quantized"), static_cast<int>(shapes.size()) - 2);
}

TEST(RulesCli, ExplainErrors) {
  struct Case {
    std::string args, message;
  };
  const std::vector<Case> cases = {
      {"--model wan2.1-1.3b --blocks 0 --rule int8", "--blocks 0: wan2.1-1.3b has 30 blocks (give 1 to 30)"},
      {"--model wan2.1-14b --blocks 41 --rule int8", "--blocks 41: wan2.1-14b has 40 blocks"},
      {"--model wan3 --rule int8", "unknown model 'wan3'"},
      {"--model wan2.1-1.3b --rule int9", "unknown preset 'int9'"},
      {"--model wan2.1-1.3b --rule 'weight=int8,act=fp8'", "no kernel mixes int8 and fp8"},
      {"--model wan2.1-1.3b --rule 'module_path=blocks.(,weight=int8'", "bad regex"},
      // What apply would say: a static rule needs calibrated scales, which qjit has none of yet.
      {"--model wan2.1-1.3b --rule int8 --dax '{\"\": \"int8\"}'", "give the rules as --rule"},
      {"--model wan2.1-1.3b", "give the rules as --rule (a list, first match wins) or as --dax"},
      {"--model wan2.1-1.3b --dax '[1]'", "--dax: expected a non-empty JSON object"},
      {"--model wan2.1-1.3b --dax '{\"head\": 3}'", "--dax: entry 'head': expected a rule (a string) or null, got 3"},
      {"--model wan2.1-1.3b --dax '{\"head\": \"int9\"}'", "--dax: entry 'head': unknown preset 'int9'"},
      {"--model wan2.1-1.3b --dax '{\"head\": '", "--dax: not JSON"},
      {"--model wan2.1-1.3b --dax /nonexistent/dax.json", "--dax /nonexistent/dax.json: no such file"},
      {"--model wan2.1-1.3b --blocks 2 --dax '{\"blocks.5\": null}'",
       "config entry 'blocks.5': no module 'blocks.5' in 'blocks'"},
      {"--model wan2.1-1.3b --dax '{\"head\": \"module_path=x,weight=int8\"}'",
       "config entry 'head': its rule 'module_path=x,weight=int8' sets module_path 'x'"},
      {"--model wan2.1-1.3b --blocks 1 --rule int8-static",
       "layer 'text_embedding.0', rule 0 'int8-static': the rule has a static activation scale"},
  };
  for (const Case& c : cases) {
    const auto o = qjit_cmd("rules explain " + c.args, /*with_stderr=*/true);
    EXPECT_EQ(o.code, 1) << c.args << "\n" << o.out;
    EXPECT_TRUE(has(o.out, "qjit: error: ")) << o.out;
    EXPECT_TRUE(has(o.out, c.message)) << c.args << "\n" << o.out;
  }
  EXPECT_NE(qjit_cmd("rules explain --rule int8").code, 0);  // --model is required
  EXPECT_NE(qjit_cmd("rules").code, 0);                      // a subcommand is required
}

}  // namespace
