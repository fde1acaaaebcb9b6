#include "jit/source_gen.hpp"

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>

#include "common/error.hpp"
#include "jit/embedded.hpp"
#include "jit/family.hpp"

namespace qjit::jit {

namespace {

std::string render_value(const ParamValue& v) {
  if (auto* i = std::get_if<std::int64_t>(&v)) return fmt::format("{}", *i);
  if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  const auto& e = std::get<EnumValue>(v);
  return e.type + "::" + e.value;
}

std::string render_type(const ParamValue& v) {
  if (std::holds_alternative<std::int64_t>(v)) return "long long";
  if (std::holds_alternative<bool>(v)) return "bool";
  return std::get<EnumValue>(v).type;
}

std::vector<std::string> includes_of(const std::string& text) {
  static const std::regex kInclude(R"re(^\s*#\s*include\s*"([^"]+)")re");
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, kInclude)) out.push_back(m[1]);
  }
  return out;
}

const std::map<std::string, const char*>& embedded_by_path() {
  static const std::map<std::string, const char*> files = [] {
    std::map<std::string, const char*> m;
    for (const auto& f : embedded_templates()) m[f.path] = f.content;
    return m;
  }();
  return files;
}

}  // namespace

std::vector<Header> include_closure(const std::string& root_source, const std::string& root_name) {
  const auto& files = embedded_by_path();
  std::set<std::string> seen;
  std::vector<Header> out;
  std::vector<std::pair<std::string, std::string>> todo;  // (includer, include)
  for (const auto& inc : includes_of(root_source)) todo.emplace_back(root_name, inc);
  while (!todo.empty()) {
    auto [from, name] = todo.back();
    todo.pop_back();
    if (!seen.insert(name).second) continue;
    auto it = files.find(name);
    QJIT_CHECK_GEN("jit", it != files.end(), "{} includes \"{}\", which is not an embedded template", from, name);
    out.push_back({name, it->second});
    for (const auto& inc : includes_of(it->second)) todo.emplace_back(name, inc);
  }
  std::sort(out.begin(), out.end(), [](const Header& a, const Header& b) { return a.name < b.name; });
  return out;
}

namespace {
// The closure of one family template never changes in a process: compute it once.
const std::vector<Header>& family_closure(const Family& family) {
  static std::mutex mu;
  static std::map<std::string, std::vector<Header>> memo;
  std::lock_guard<std::mutex> lock(mu);
  auto it = memo.find(family.template_path);
  if (it == memo.end()) {
    const std::string root = "#include \"" + family.template_path + "\"\n";
    it = memo.emplace(family.template_path, include_closure(root, "qjit_" + family.name + ".cu")).first;
  }
  return it->second;
}
}  // namespace

std::string param_checks(const Family& family) {
  // NOTE: NVRTC has no offsetof (no <cstddef>, no builtin), so the layout is checked by what
  // fixes it: the same fields by name, each of the host's size, in the host's order (member
  // addresses of a constexpr object compare in declaration order), no more of them, and the
  // same total size and alignment. Fields are scalars and device addresses aligned to their
  // size (check_param_layout) on both ABIs, so the offsets then agree too.
  std::string src =
      "\n// Each entry's parameter struct as the host lays it out (jit/kernel_params.hpp).\nnamespace qjit_params {\n";
  std::set<const ParamLayout*> done;
  for (const auto& k : family.kernels) {
    QJIT_CHECK_GEN("jit", k.params != nullptr, "kernel {} of family '{}' has no parameter struct", k.name,
                   family.name);
    const ParamLayout& l = *k.params;
    if (done.insert(&l).second) {
      const std::string probe = fmt::format("probe{}", done.size());
      src += fmt::format(
          "static_assert(sizeof({0}) == {1} && alignof({0}) == {2}, \"{0} must be {1} bytes aligned {2}, as {3} is on "
          "the host\");\n",
          l.device_type, l.size, l.align, l.host_type);
      std::string any;
      for (std::size_t i = 0; i <= l.fields.size(); ++i) any += ", qjit::dev::AnyField";
      src += fmt::format(
          "static_assert(!qjit::dev::kAggregateFrom<{0}{1}>, \"{0} must have {2} fields, as {3} has on the "
          "host\");\n",
          l.device_type, any, l.fields.size(), l.host_type);
      src += fmt::format("inline constexpr {} {}{{}};\n", l.device_type, probe);
      for (std::size_t i = 0; i < l.fields.size(); ++i) {
        const ParamField& f = l.fields[i];
        src += fmt::format("static_assert(sizeof({0}::{1}) == {2}, \"{0}::{1} must be {2} bytes, as on the host\");\n",
                           l.device_type, f.name, f.size);
        if (i > 0) {
          src += fmt::format(
              "static_assert(static_cast<const void*>(&{0}.{1}) < static_cast<const void*>(&{0}.{2}), \"{3}::{2} "
              "must follow {3}::{1}, as on the host\");\n",
              probe, l.fields[i - 1].name, f.name, l.device_type);
        }
      }
    }
    src += fmt::format(
        "static_assert(qjit::dev::kTakesParams<decltype(&{0}), {1}>, \"{2} must take one {1} (its launch's "
        "struct)\");\n",
        name_expression(k.name), l.device_type, k.name);
  }
  return src + "}  // namespace qjit_params\n";
}

std::string name_expression(const std::string& kernel_template) {
  return fmt::format("{}<{}>", kernel_template, kConfigStructName);
}

Program build_program(const KernelSpec& spec, CompileOutput output) {
  const Family& family = find_family(spec.family());
  for (const auto& r : family.required) {
    QJIT_CHECK_GEN("jit", spec.params().count(r), "kernel spec of family '{}' lacks parameter '{}'", family.name, r);
  }
  Program p;
  p.spec = spec;
  p.file_name = "qjit_" + family.name + ".cu";
  std::string src = fmt::format("// Generated by qjit for: {}\n#include \"{}\"\n\n", spec.summary(), family.template_path);
  src += fmt::format("// NOTE: the config never changes results, only speed.\nstruct {} {{\n", kConfigStructName);
  for (const auto& [name, value] : spec.params()) {
    src += fmt::format("  static constexpr {} {} = {};\n", render_type(value), name, render_value(value));
  }
  src += "};\n";
  src += param_checks(family);
  p.source = std::move(src);
  // NOTE: the generated source includes only the family template, so its closure is the
  // family's.
  p.headers = family_closure(family);
  for (const auto& k : family.kernels) p.name_expressions.push_back(name_expression(k.name));
  p.output = output;
  const Arch& a = spec.arch();
  // NOTE: -arch=sm_XX makes NVRTC run ptxas and emit a cubin; compute_XX stops at PTX.
  p.options = {output == CompileOutput::kPtxAndCubin ? "-arch=" + a.str()
                                                      : "-arch=compute_" + std::to_string(a.number) + (a.accel ? "a" : ""),
               "-std=c++20", "-default-device", "-DQJIT_DEVICE_CODE=1"};
  if (output == CompileOutput::kPtxAndCubin) p.options.push_back("-Xptxas=-v");
  return p;
}

}  // namespace qjit::jit
