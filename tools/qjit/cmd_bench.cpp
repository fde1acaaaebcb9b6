// qjit bench: the benchmark suite on the device at hand, and its report. Each step is a
// program of bench/ (Google Benchmark, JSON out) or a `qjit run`, every one measuring against
// a baseline in the same run; then tools/bench_report.py (matplotlib) writes report.md and
// the PNG plots from what they wrote. Everything goes to a directory that appears whole:
// steps write into a temporary sibling, renamed to --out at the end (a failed or interrupted
// run leaves no half report). A step whose program was not built (no oneDNN, no cuBLASLt) is
// skipped with the reason, which the report shows.

#include <fcntl.h>
#include <stdio.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "cli_device.hpp"
#include "commands.hpp"
#include "common/error.hpp"
#include "common/knobs.hpp"
#include "jit/host_compiler.hpp"
#include "jit/manifest.hpp"
#include "jit/nvrtc_api.hpp"
#include "runtime/driver.hpp"
#include "runtime/kernels.hpp"

extern char** environ;

namespace qjit::cli {

namespace {

namespace fs = std::filesystem;
constexpr const char* kSub = "bench";
using Clock = std::chrono::steady_clock;

struct BenchFlags {
  std::string out;
  std::string device;
  bool quick = false;
  bool no_plots = false;
  bool json = false;
};

// Where the bench programs and the report script are: QJIT_BENCH_DIR / QJIT_BENCH_REPORT, else
// this build's (compiled in).
fs::path bench_dir() {
  const auto env = knobs::get("QJIT_BENCH_DIR");
  return env && !env->empty() ? fs::path(*env) : fs::path(QJIT_BENCH_BIN_DIR);
}
// The Python that runs the report: Debian's (/usr/bin/python3, which sees the python3-matplotlib
// package tools/setup.sh installs) where it exists, else the first python3 on PATH.
std::vector<std::string> python() {
  if (fs::exists("/usr/bin/python3")) return {"/usr/bin/python3"};
  return {"/usr/bin/env", "python3"};
}

fs::path report_script() {
  const auto env = knobs::get("QJIT_BENCH_REPORT");
  return env && !env->empty() ? fs::path(*env) : fs::path(QJIT_BENCH_REPORT_SCRIPT);
}

// The step running now, and a SIGINT / SIGTERM that came meanwhile: the signal goes on to
// the step, and the run then stops as a failed one (removing its partial directory).
std::atomic<pid_t> g_child{0};
std::atomic<int> g_signal{0};

void forward_signal(int sig) {
  const int saved = errno;
  g_signal = sig;
  const pid_t child = g_child.load();
  if (child > 0) ::kill(child, sig);
  errno = saved;
}

// Runs argv with `env` changes ("NAME=value" set, "-NAME" unset), stdout and stderr to files
// in `dir`. Returns the exit status (128 + signal when killed).
int run_program(const std::vector<std::string>& argv, const std::vector<std::string>& env, const fs::path& out,
                const fs::path& err) {
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    bool drop = false;
    for (const auto& change : env) {
      const std::string name = change[0] == '-' ? change.substr(1) : change.substr(0, change.find('='));
      drop |= kv.rfind(name + "=", 0) == 0;
    }
    if (!drop) envs.push_back(kv);
  }
  for (const auto& change : env) {
    if (change[0] != '-') envs.push_back(change);
  }
  std::vector<char*> av, ev;
  for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
  av.push_back(nullptr);
  for (const auto& e : envs) ev.push_back(const_cast<char*>(e.c_str()));
  ev.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, av[0], &actions, nullptr, av.data(), ev.data());
  posix_spawn_file_actions_destroy(&actions);
  QJIT_CHECK_GEN(kSub, rc == 0, "cannot start {}: {}", argv[0], std::strerror(rc));
  g_child = pid;
  if (g_signal != 0) ::kill(pid, g_signal);
  int status = 0;
  pid_t waited = 0;
  while ((waited = ::waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
  }
  const int wait_errno = errno;
  g_child = 0;
  QJIT_CHECK_GEN(kSub, waited == pid, "cannot wait for {}: {}", argv[0], std::strerror(wait_errno));
  QJIT_CHECK_GEN(kSub, g_signal == 0, "interrupted by signal {}; nothing was written", g_signal.load());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string tail_of(const fs::path& p, std::size_t bytes = 2000) {
  std::ifstream f(p);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

std::string first_line_of(const std::string& path, const std::string& prefix) {
  std::ifstream f(path);
  std::string line;
  for (int i = 0; i < 4096 && std::getline(f, line); ++i) {
    if (line.rfind(prefix, 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string v = line.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        return v;
      }
    }
  }
  return "";
}

// The source tree's commit ("-dirty" with uncommitted changes), or "unknown".
std::string git_commit(const fs::path& dir) {
  std::error_code ec;
  std::string commit = "unknown";
  if (run_program({"/usr/bin/env", "git", "-C", QJIT_SOURCE_DIR, "rev-parse", "--short=12", "HEAD"}, {},
                  dir / "out", dir / "err") == 0) {
    std::ifstream in(dir / "out");
    std::getline(in, commit);
    if (run_program({"/usr/bin/env", "git", "-C", QJIT_SOURCE_DIR, "status", "--porcelain", "--untracked-files=no"},
                    {}, dir / "status", dir / "err") == 0 &&
        fs::file_size(dir / "status", ec) > 0) {
      commit += "-dirty";
    }
  }
  for (const char* f : {"out", "err", "status"}) fs::remove(dir / f, ec);
  return commit;
}

// The machine, device, versions and commit the report names.
nlohmann::json machine_json(const Device& device, const fs::path& tmp) {
  utsname u{};
  ::uname(&u);
  nlohmann::json j = {{"date", fmt::format("{:%Y-%m-%d %H:%M:%S} UTC", fmt::gmtime(std::time(nullptr)))},
                      {"host", u.nodename},
                      {"kernel", fmt::format("{} {} {}", u.sysname, u.release, u.machine)},
                      {"cpu", first_line_of("/proc/cpuinfo", "model name")},
                      {"cores", std::thread::hardware_concurrency()},
                      {"memory", first_line_of("/proc/meminfo", "MemTotal")},
                      {"device", device.str()},
                      {"commit", git_commit(tmp)}};
  std::string why;
  j["nvrtc"] = jit::nvrtc_api(&why) != nullptr ? nlohmann::json::parse(jit::nvrtc_identity()).value("version", "")
                                              : "none: " + why;
  j["host_compiler"] = jit::host_compiler_available(&why) ? jit::host_compiler_identity() : "none: " + why;
  // NOTE: the sim's only: on cuda this process holds no context while the steps measure (an
  // exclusive-process GPU would refuse them); the report takes the GPU's arch from the steps.
  if (device.kind == DeviceKind::kSim) {
    const auto driver = driver_for(device);
    j["device_name"] = driver->props().name;
    j["arch"] = target_arch(*driver).str();
  }
  return j;
}

struct Step {
  std::string name;       // "jit", "kernels", "model_compile", "forward"
  std::string what;       // for progress and the report
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string output;     // the JSON file it leaves in the directory
  bool benchmark = false;  // a Google Benchmark program (its JSON goes to --benchmark_out)
};

std::vector<Step> plan_steps(const BenchFlags& f, const Device& device, const fs::path& tmp, nlohmann::json& skipped) {
  const fs::path bin = bench_dir();
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<Step> steps;
  auto bench = [&](const std::string& name, const std::string& program, const std::string& what,
                   const std::string& filter, std::vector<std::string> env) {
    const fs::path exe = bin / program;
    if (!fs::exists(exe)) {
      skipped.push_back({{"step", name},
                         {"what", what},
                         {"reason", fmt::format("{} was not built (its baseline library is missing; see bench/README.md)",
                                                exe.string())}});
      return;
    }
    Step s{name, what, {exe.string()}, std::move(env), program + ".json", true};
    s.argv.push_back("--benchmark_out=" + (tmp / s.output).string());
    s.argv.push_back("--benchmark_out_format=json");
    if (!filter.empty()) s.argv.push_back("--benchmark_filter=" + filter);
    steps.push_back(std::move(s));
  };
  bench("jit", "jit_bench", "JIT: cold compile, disk hit, in-memory lookup (against the cold NVRTC compile)",
        f.quick ? "BM_ColdCompile/2|BM_JitMemoryHit|BM_KernelLookup|BM_DiskCacheHit" : "", {});
  if (device.runs_host_kernels()) {
    bench("kernels", "cpu_linear_bench", "cpu int8 W8A8 linear at Wan2.1 shapes against oneDNN int8 and OpenBLAS sgemm",
          f.quick ? "/256/1536/1536/1/" : "", {"-OPENBLAS_CORETYPE", "-OPENBLAS_L2_SIZE"});
  } else if (device.kind == DeviceKind::kCuda) {
    bench("kernels", "qgemm_cuda_bench", "GEMM families at Wan2.1 shapes against cuBLASLt bf16 and int8",
          f.quick ? "qgemm_int8/.*/M:256/" : "", {});
  } else {
    bench("kernels", "qgemm_sim_bench", "sim counters per GEMM family and config on Wan2.1-1.3B's attention layer",
          f.quick ? "sim_qgemm_int8/.*/16x64x64" : "", {});
  }
  // The whole model's kernels under one rule, compiled cold (an empty cache) and warm.
  // NOTE: on cuda `qjit run` takes the GPU's own arch; this process opens no context.
  const std::string arch = device.kind == DeviceKind::kCuda ? ""
                           : device.kind == DeviceKind::kSim ? target_arch(*driver_for(device)).str()
                                                             : "sm_90";
  for (const char* phase : {"cold", "warm"}) {
    Step s{std::string("model_compile_") + phase,
           fmt::format("every kernel of a Wan2.1-1.3B forward under int8 for {}, {} cache",
                       arch.empty() ? "the GPU's arch" : arch, phase),
           {self, "run", "--json", "--no-accuracy", "--preset", "int8"},
           // NOTE: a private cache, and none of the user's knobs that would make cold not cold
           // or warm not warm.
           {"QJIT_CACHE_DIR=" + (tmp / "model-compile-cache").string(), "-QJIT_CACHE_BUNDLE", "-QJIT_OFFLINE",
            "-QJIT_CACHE_DISABLE", "-QJIT_ALWAYS_COMPILE"},
           std::string("model_compile_") + phase + ".json",
           false};
    if (!arch.empty()) s.argv.insert(s.argv.end(), {"--arch", arch});
    steps.push_back(std::move(s));
  }
  // The forward under each preset against the unquantized one, on the device (no CUDA plan
  // compiled beside it but the sim's own arch's).
  Step forward{"forward", "the Wan2.1 forward under each preset against the unquantized model",
               {self, "run", "--json", "--device", device.str()}, {}, "forward.json", false};
  if (device.kind == DeviceKind::kSim) forward.argv.insert(forward.argv.end(), {"--arch", arch});
  forward.env = {"-QJIT_OFFLINE", "-QJIT_CACHE_DISABLE"};
  if (f.quick) forward.argv.insert(forward.argv.end(), {"--preset", "int8", "--frames", "1", "--height", "8", "--width", "8"});
  steps.push_back(std::move(forward));
  return steps;
}

void run(const BenchFlags& f) {
  const auto start = Clock::now();
  QJIT_CHECK_GEN(kSub, !f.out.empty(), "--out DIR is required (the report's directory; it must not exist yet)");
  const fs::path out = fs::absolute(f.out);
  std::error_code ec;
  QJIT_CHECK_GEN(kSub, !fs::exists(fs::symlink_status(out, ec)), "--out {}: already exists; give a new directory",
                 out.string());
  const fs::path parent = out.parent_path();
  QJIT_CHECK_GEN(kSub, fs::is_directory(parent, ec), "--out {}: its directory {} does not exist", out.string(),
                 parent.string());
  const Device device = parse_device_flag(f.device, kSub);
  QJIT_CHECK_GEN(kSub, device.kind != DeviceKind::kCpu || device.runs_host_kernels(),
                 "--device cpu:ref runs the reference; bench the cpu device (--device cpu) instead");
  struct sigaction sa {};
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  const fs::path script = report_script();
  QJIT_CHECK_GEN(kSub, fs::exists(script), "the report script {} is missing (QJIT_BENCH_REPORT names another)",
                 script.string());
  fs::path tmp = out;
  tmp += fmt::format(".partial-{}", ::getpid());
  QJIT_CHECK_GEN(kSub, fs::create_directory(tmp, ec), "--out {}: cannot create {}: {}", out.string(), tmp.string(),
                 ec.message());
  struct Cleanup {
    fs::path dir;
    bool keep = false;
    ~Cleanup() {
      std::error_code ignored;
      if (!keep) fs::remove_all(dir, ignored);
    }
  } cleanup{tmp};
  // The plots need matplotlib: checked before any work.
  if (!f.no_plots) {
    std::vector<std::string> probe = python();
    probe.insert(probe.end(), {"-c", "import matplotlib"});
    const int rc = run_program(probe, {}, tmp / "probe.out", tmp / "probe.err");
    QJIT_CHECK_GEN(kSub, rc == 0,
                   "the plots need python3 with matplotlib (Debian: python3-matplotlib; tools/setup.sh installs it), "
                   "or pass --no-plots: {}",
                   tail_of(tmp / "probe.err", 300));
    fs::remove(tmp / "probe.out", ec);
    fs::remove(tmp / "probe.err", ec);
  }

  nlohmann::json skipped = nlohmann::json::array();
  const std::vector<Step> steps = plan_steps(f, device, tmp, skipped);
  nlohmann::json meta = machine_json(device, tmp);
  meta["quick"] = f.quick;
  nlohmann::json ran = nlohmann::json::array();
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    std::fprintf(stderr, "[%zu/%zu] %s: %s\n", i + 1, steps.size(), s.name.c_str(), s.what.c_str());
    const auto t0 = Clock::now();
    const fs::path stdout_file = tmp / (s.name + ".stdout"), stderr_file = tmp / (s.name + ".log");
    const int rc = run_program(s.argv, s.env, stdout_file, stderr_file);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    QJIT_CHECK_GEN(kSub, rc == 0, "step {} ({}) failed with status {}: {}", s.name, fmt::join(s.argv, " "), rc,
                   tail_of(stderr_file));
    if (!s.benchmark) fs::rename(stdout_file, tmp / s.output, ec);
    else fs::remove(stdout_file, ec);
    ran.push_back({{"step", s.name}, {"what", s.what}, {"output", s.output}, {"seconds", seconds}});
  }
  fs::remove_all(tmp / "model-compile-cache", ec);  // the cold compile's kernel cache: not part of the report
  meta["steps"] = ran;
  meta["skipped"] = skipped;
  meta["seconds"] = std::chrono::duration<double>(Clock::now() - start).count();
  {
    std::ofstream m(tmp / "meta.json");
    m << meta.dump(2) << "\n";
    QJIT_CHECK_GEN(kSub, m.good(), "cannot write {}", (tmp / "meta.json").string());
  }
  std::fprintf(stderr, "[report] %s\n", script.c_str());
  std::vector<std::string> report = python();
  report.insert(report.end(), {script.string(), tmp.string()});
  if (f.no_plots) report.push_back("--no-plots");
  // NOTE: the steps' measurements are kept from here on: a report that fails, or a directory
  // that cannot be moved into place, leaves them where they are, said.
  cleanup.keep = true;
  const int rc = run_program(report, {}, tmp / "report.stdout", tmp / "report.log");
  QJIT_CHECK_GEN(kSub, rc == 0, "the report script failed with status {} (the measurements are in {}): {}", rc,
                 tmp.string(), tail_of(tmp / "report.log"));
  fs::remove(tmp / "report.stdout", ec);
  QJIT_CHECK_GEN(kSub, g_signal == 0, "interrupted by signal {} (the measurements are in {})", g_signal.load(),
                 tmp.string());
  QJIT_CHECK_GEN(kSub, ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_NOREPLACE) == 0,
                 "cannot move the report into place at {} (it is in {}): {}", out.string(), tmp.string(),
                 std::strerror(errno));
  nlohmann::json files = nlohmann::json::array();
  for (const auto& e : fs::directory_iterator(out)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  if (f.json) {
    fmt::print("{}\n", nlohmann::json{{"out", out.string()},
                                      {"report", (out / "report.md").string()},
                                      {"files", files},
                                      {"steps", ran},
                                      {"skipped", skipped},
                                      {"machine", meta}}
                           .dump(2));
  } else {
    fmt::print("report: {}\n", (out / "report.md").string());
    for (const auto& s : skipped) fmt::print("skipped {}: {}\n", s["step"].get<std::string>(), s["reason"].get<std::string>());
  }
}

}  // namespace

void add_bench(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand("bench", "run the benchmark suite on a device and write a report (markdown + PNG)");
  cmd->add_option("--out", f->out, "the report's directory (created; must not exist)");
  cmd->add_option("--device", f->device, "cpu | sim | sim:sm_XX | cuda[:N] (default: $QJIT_DEVICE, else cpu)");
  cmd->add_flag("--quick", f->quick, "one row per program and a small forward (seconds, not minutes): a smoke run");
  cmd->add_flag("--no-plots", f->no_plots, "the markdown report only (no matplotlib needed)");
  cmd->add_flag("--json", f->json, "print JSON");
  cmd->callback([f] { run(*f); });
}

}  // namespace qjit::cli
