#include "jit/compiler.hpp"

#include <chrono>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <regex>
#include <sstream>

#include "common/error.hpp"
#include "jit/host_compiler.hpp"
#include "jit/nvrtc_api.hpp"

namespace qjit::jit {

namespace {

#define QJIT_NVRTC_CHECK(api, call)                                                                     \
  do {                                                                                                 \
    nvrtcResult r_ = (api).call;                                                                       \
    QJIT_CHECK_GEN("nvrtc", r_ == NVRTC_SUCCESS, "{} failed: {}", #call, (api).nvrtcGetErrorString(r_)); \
  } while (0)

class ProgramHandle {
 public:
  ProgramHandle(const NvrtcApi& api, const Program& p) : api_(api) {
    std::vector<const char*> contents, names;
    for (const auto& h : p.headers) {
      contents.push_back(h.content.c_str());
      names.push_back(h.name.c_str());
    }
    QJIT_NVRTC_CHECK(api_, nvrtcCreateProgram(&prog_, p.source.c_str(), p.file_name.c_str(),
                                        static_cast<int>(contents.size()), contents.data(), names.data()));
  }
  ~ProgramHandle() { api_.nvrtcDestroyProgram(&prog_); }
  ProgramHandle(const ProgramHandle&) = delete;
  ProgramHandle& operator=(const ProgramHandle&) = delete;
  nvrtcProgram get() const { return prog_; }

 private:
  const NvrtcApi& api_;
  nvrtcProgram prog_ = nullptr;
};

std::string program_log(const NvrtcApi& api, nvrtcProgram prog) {
  size_t n = 0;
  if (api.nvrtcGetProgramLogSize(prog, &n) != NVRTC_SUCCESS || n <= 1) return {};
  std::string log(n, '\0');
  api.nvrtcGetProgramLog(prog, log.data());
  log.resize(n - 1);
  return log;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

const std::string* file_text(const Program& p, const std::string& name) {
  if (name == p.file_name) return &p.source;
  for (const auto& h : p.headers) {
    if (h.name == name) return &h.content;
  }
  return nullptr;
}

}  // namespace

std::string format_compile_error(const Program& program, const std::string& log) {
  static const std::regex kLocation(R"(^(.+)\((\d+)\): (error|catastrophic error|warning))");
  std::string out = fmt::format("NVRTC failed to compile {} ({})\noptions: {}\n", program.file_name,
                                program.spec.summary(), fmt::join(program.options, " "));
  for (const auto& line : split_lines(log)) {
    out += line + "\n";
    std::smatch m;
    if (!std::regex_search(line, m, kLocation) || m[3] == "warning") continue;
    const std::string* text = file_text(program, m[1]);
    if (text == nullptr) continue;
    const auto src = split_lines(*text);
    const int at = std::stoi(m[2]);
    for (int i = std::max(1, at - 3); i <= std::min<int>(static_cast<int>(src.size()), at + 3); ++i) {
      out += fmt::format("  {} {:>5} | {}\n", i == at ? ">" : " ", i, src[i - 1]);
    }
  }
  return out;
}

Artifact compile(const Program& program) {
  if (program.output == CompileOutput::kHostObject) return compile_host(program);
  const auto start = std::chrono::steady_clock::now();
  const NvrtcApi& api = need_nvrtc();
  ProgramHandle prog(api, program);
  for (const auto& e : program.name_expressions) QJIT_NVRTC_CHECK(api, nvrtcAddNameExpression(prog.get(), e.c_str()));
  std::vector<const char*> opts;
  for (const auto& o : program.options) opts.push_back(o.c_str());
  const nvrtcResult r = api.nvrtcCompileProgram(prog.get(), static_cast<int>(opts.size()), opts.data());
  const std::string log = program_log(api, prog.get());
  if (r != NVRTC_SUCCESS) {
    throw Error("nvrtc", __FILE__, __LINE__,
                fmt::format("{}: {}\n{}", api.nvrtcGetErrorString(r), "compile failed", format_compile_error(program, log)));
  }
  Artifact a;
  a.spec = program.spec;
  a.log = log;
  size_t n = 0;
  QJIT_NVRTC_CHECK(api, nvrtcGetPTXSize(prog.get(), &n));
  a.ptx.resize(n);
  QJIT_NVRTC_CHECK(api, nvrtcGetPTX(prog.get(), a.ptx.data()));
  if (!a.ptx.empty() && a.ptx.back() == '\0') a.ptx.pop_back();
  if (program.output == CompileOutput::kPtxAndCubin) {
    QJIT_NVRTC_CHECK(api, nvrtcGetCUBINSize(prog.get(), &n));
    a.cubin.resize(n);
    QJIT_NVRTC_CHECK(api, nvrtcGetCUBIN(prog.get(), a.cubin.data()));
  }
  for (const auto& e : program.name_expressions) {
    const char* lowered = nullptr;
    QJIT_NVRTC_CHECK(api, nvrtcGetLoweredName(prog.get(), e.c_str(), &lowered));
    KernelInfo k;
    k.name_expression = e;
    k.lowered_name = lowered;
    a.kernels.push_back(std::move(k));
  }
  parse_ptxas_usage(log, a.kernels);
  a.compile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return a;
}

}  // namespace qjit::jit
