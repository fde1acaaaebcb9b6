// The host compiler plugin (hostcc_api.h): a C++ translation unit to an object file with
// Clang in process (clang::driver::Driver builds the cc1 arguments, so the resource
// directory and its headers are found as the clang executable would find them), and object
// files linked into the process with ORC's LLJIT, one JITDylib per module.

#include "hostcc/hostcc_api.h"

#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/Basic/TargetOptions.h>
#include <clang/Basic/Version.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Driver/Compilation.h>
#include <clang/Driver/Driver.h>
#include <clang/Driver/Job.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/FrontendActions.h>
#include <clang/Lex/PreprocessorOptions.h>
#include <clang/Serialization/ASTWriter.h>
#include <clang/Serialization/PCHContainerOperations.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/MC/SubtargetFeature.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Support/Host.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/VirtualFileSystem.h>
#include <llvm/Target/TargetMachine.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#ifndef QJIT_CLANG_EXECUTABLE
#error "QJIT_CLANG_EXECUTABLE must name the clang++ whose resource directory the plugin uses"
#endif

namespace {

// Headers are served from this virtual directory (an in-memory file system over the real
// one, which holds only clang's resource headers the sources may include).
constexpr const char* kHeaderRoot = "/qjit-host-templates";

char* dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p != nullptr) std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

void init_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

std::string host_features() {
  llvm::StringMap<bool> map;
  llvm::sys::getHostCPUFeatures(map);
  std::vector<std::string> f;
  for (const auto& e : map) f.push_back((e.second ? "+" : "-") + e.first().str());
  std::sort(f.begin(), f.end());
  std::string out;
  for (const auto& s : f) out += (out.empty() ? "" : ",") + s;
  return out;
}

struct Target {
  std::string triple = llvm::sys::getProcessTriple();
  std::string cpu = llvm::sys::getHostCPUName().str();
  std::string features = host_features();
};

bool take_prefixed(const std::string& arg, const char* prefix, std::string& out) {
  const std::size_t n = std::strlen(prefix);
  if (arg.compare(0, n, prefix) != 0) return false;
  out = arg.substr(n);
  return true;
}

std::vector<std::string> split_features(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t comma = s.find(',', pos);
    if (comma == std::string::npos) comma = s.size();
    if (comma > pos) out.push_back(s.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

// Diagnostics printed into a log string: the driver's, the front end's and its summary line.
struct LogDiagnostics {
  llvm::raw_string_ostream stream;
  llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> options{new clang::DiagnosticOptions()};
  clang::TextDiagnosticPrinter* printer;  // owned by engine
  clang::DiagnosticsEngine engine;

  explicit LogDiagnostics(std::string& log)
      : stream(log),
        printer(new clang::TextDiagnosticPrinter(stream, options.get())),
        engine(llvm::IntrusiveRefCntPtr<clang::DiagnosticIDs>(new clang::DiagnosticIDs()), options.get(), printer,
               /*ShouldOwnClient=*/true) {}
};

// `instance` set to run `invocation` over `files` (in memory, on top of the real file system,
// which holds clang's resource headers), reporting into `d`.
void prepare(clang::CompilerInstance& instance, std::shared_ptr<clang::CompilerInvocation> invocation,
             llvm::IntrusiveRefCntPtr<llvm::vfs::InMemoryFileSystem> files, LogDiagnostics& d) {
  auto overlay = llvm::makeIntrusiveRefCnt<llvm::vfs::OverlayFileSystem>(llvm::vfs::getRealFileSystem());
  overlay->pushOverlay(std::move(files));
  instance.setInvocation(std::move(invocation));
  instance.createDiagnostics(d.printer, /*ShouldOwnClient=*/false);
  instance.createFileManager(overlay);
  instance.setVerboseOutputStream(d.stream);  // "N errors generated." goes to the log too
}

// The cc1 invocation the clang driver makes of `driver_args` for the file at `main_path`
// (its type from its extension) and `target`, or null with the reason in `log_stream`.
std::shared_ptr<clang::CompilerInvocation> make_invocation(const std::string& main_path,
                                                           const std::vector<std::string>& driver_args,
                                                           const Target& target, clang::DiagnosticsEngine& diags,
                                                           llvm::raw_ostream& log_stream) {
  clang::driver::Driver driver(QJIT_CLANG_EXECUTABLE, target.triple, diags);
  driver.setCheckInputsExist(false);
  std::vector<std::string> args = {QJIT_CLANG_EXECUTABLE, "-c", main_path, "-I", kHeaderRoot};
  args.insert(args.end(), driver_args.begin(), driver_args.end());
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  std::unique_ptr<clang::driver::Compilation> compilation(driver.BuildCompilation(argv));
  if (!compilation || diags.hasErrorOccurred()) {
    log_stream << "hostcc: the clang driver refused the arguments\n";
    return nullptr;
  }
  const auto& jobs = compilation->getJobs();
  if (jobs.size() != 1 || !llvm::isa<clang::driver::Command>(*jobs.begin())) {
    log_stream << "hostcc: expected one compile job from the clang driver, got " << jobs.size() << "\n";
    return nullptr;
  }
  const auto& cc1 = llvm::cast<clang::driver::Command>(*jobs.begin()).getArguments();
  auto invocation = std::make_shared<clang::CompilerInvocation>();
  if (!clang::CompilerInvocation::CreateFromArgs(*invocation, cc1, diags)) {
    log_stream << "hostcc: invalid cc1 arguments\n";
    return nullptr;
  }
  invocation->getTargetOpts().CPU = target.cpu;
  invocation->getTargetOpts().FeaturesAsWritten = split_features(target.features);
  invocation->getFrontendOpts().DisableFree = false;
  return invocation;
}

// --- the intrinsics prelude --------------------------------------------------------------
// Parsing <immintrin.h> is most of a kernel's front end (about 170 of 230 ms on Zen 4). So it
// is precompiled once per process and target (triple, CPU, features, options) into memory, and
// each program that includes it starts from that PCH. The object code is the same: a PCH is
// the parsed header, nothing more. Built with timestamps off, it reads back from the in-memory
// file system it was made on.

constexpr const char* kPreludeName = "qjit_prelude.hpp";  // .hpp: a C++ header to the driver
constexpr const char* kPreludeText = "#include <immintrin.h>\n";

// GeneratePCHAction writing to memory instead of a file.
class PchToMemory : public clang::ASTFrontendAction {
 public:
  explicit PchToMemory(std::shared_ptr<clang::PCHBuffer> buffer) : buffer_(std::move(buffer)) {}

 protected:
  bool BeginSourceFileAction(clang::CompilerInstance& ci) override {
    ci.getLangOpts().CompilingPCH = true;
    return true;
  }
  std::unique_ptr<clang::ASTConsumer> CreateASTConsumer(clang::CompilerInstance& ci, llvm::StringRef) override {
    return std::make_unique<clang::PCHGenerator>(ci.getPreprocessor(), ci.getModuleCache(), "", "", buffer_,
                                                 llvm::ArrayRef<std::shared_ptr<clang::ModuleFileExtension>>{},
                                                 /*AllowASTWithErrors=*/false, /*IncludeTimestamps=*/false);
  }
  clang::TranslationUnitKind getTranslationUnitKind() override { return clang::TU_Prefix; }
  bool hasASTFileSupport() const override { return false; }

 private:
  std::shared_ptr<clang::PCHBuffer> buffer_;
};

std::string prelude_path() { return std::string(kHeaderRoot) + "/" + kPreludeName; }

// The prelude's PCH for these arguments and target (built on first use), or null when it
// cannot be built (the program then parses the header itself).
const std::string* prelude_pch(const std::vector<std::string>& driver_args, const Target& target) {
  static std::mutex mu;
  static auto* built = new std::map<std::string, std::unique_ptr<std::string>>();  // NOTE: never destroyed
  // NOTE: the prelude is always C++ (.hpp) and so are the programs it serves (front_end checks
  // the extension); arguments cannot hold a NUL.
  std::string key = target.triple + '\0' + target.cpu + '\0' + target.features;
  for (const auto& a : driver_args) key += '\0' + a;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = built->find(key); it != built->end()) return it->second.get();
  std::unique_ptr<std::string>& slot = (*built)[key];
  std::string log;  // NOTE: its diagnostics stay here: the programs report their own
  LogDiagnostics d(log);
  auto invocation = make_invocation(prelude_path(), driver_args, target, d.engine, d.stream);
  if (!invocation) return nullptr;
  auto memory_fs = llvm::makeIntrusiveRefCnt<llvm::vfs::InMemoryFileSystem>();
  memory_fs->addFile(prelude_path(), 0, llvm::MemoryBuffer::getMemBuffer(kPreludeText, prelude_path()));
  clang::CompilerInstance instance;
  prepare(instance, invocation, memory_fs, d);
  auto buffer = std::make_shared<clang::PCHBuffer>();
  PchToMemory action(buffer);
  if (!instance.ExecuteAction(action) || !buffer->IsComplete || buffer->Data.empty()) return nullptr;
  slot = std::make_unique<std::string>(buffer->Data.data(), buffer->Data.size());
  return slot.get();
}

// Whether a text has the directive `#include <immintrin.h>` on a line of its own (a mention in
// a comment does not count; the caller asks only for targets where the directive is live).
bool has_intrinsics_include(const std::string& text) {
  for (std::size_t at = text.find("<immintrin.h>"); at != std::string::npos; at = text.find("<immintrin.h>", at + 1)) {
    std::size_t line = text.rfind('\n', at);
    line = line == std::string::npos ? 0 : line + 1;
    std::string head = text.substr(line, at - line);
    head.erase(std::remove_if(head.begin(), head.end(), [](char c) { return c == ' ' || c == '\t'; }), head.end());
    if (head == "#include") return true;
  }
  return false;
}

bool includes_intrinsics(const std::string& source, const std::vector<std::pair<std::string, std::string>>& headers) {
  if (has_intrinsics_include(source)) return true;
  for (const auto& h : headers) {
    if (has_intrinsics_include(h.second)) return true;
  }
  return false;
}

// One module: the LLVM IR of `source` (optimized per the -O level), or null with `log` set.
std::unique_ptr<llvm::Module> front_end(llvm::LLVMContext& ctx, const std::string& file_name, const std::string& source,
                                        const std::vector<std::pair<std::string, std::string>>& headers,
                                        const std::vector<std::string>& driver_args, const Target& target,
                                        bool use_prelude, std::string& log) {
  LogDiagnostics d(log);
  const std::string main_path = std::string(kHeaderRoot) + "/" + file_name;
  auto invocation = make_invocation(main_path, driver_args, target, d.engine, d.stream);
  if (!invocation) return nullptr;

  auto memory_fs = llvm::makeIntrusiveRefCnt<llvm::vfs::InMemoryFileSystem>();
  memory_fs->addFile(main_path, 0, llvm::MemoryBuffer::getMemBufferCopy(source, main_path));
  for (const auto& [name, content] : headers) {
    const std::string path = std::string(kHeaderRoot) + "/" + name;
    memory_fs->addFile(path, 0, llvm::MemoryBuffer::getMemBufferCopy(content, path));
  }
  const bool cpp = file_name.size() > 4 && file_name.compare(file_name.size() - 4, 4, ".cpp") == 0;
  if (use_prelude && cpp && includes_intrinsics(source, headers)) {
    if (const std::string* pch = prelude_pch(driver_args, target)) {
      const std::string pch_path = prelude_path() + ".pch";
      memory_fs->addFile(prelude_path(), 0, llvm::MemoryBuffer::getMemBuffer(kPreludeText, prelude_path()));
      memory_fs->addFile(pch_path, 0,
                         llvm::MemoryBuffer::getMemBuffer(llvm::StringRef(*pch), pch_path, /*RequiresNullTerminator=*/false));
      invocation->getPreprocessorOpts().ImplicitPCHInclude = pch_path;
      d.stream << "hostcc: started from the <immintrin.h> prelude PCH\n";
    }
  }
  clang::CompilerInstance instance;
  prepare(instance, invocation, memory_fs, d);
  clang::EmitLLVMOnlyAction action(&ctx);
  const bool ok = instance.ExecuteAction(action);
  d.stream.flush();
  if (!ok) return nullptr;
  return action.takeModule();
}

// The object file of an (already optimized) module for `target`.
bool back_end(llvm::Module& module, const Target& target, llvm::SmallVectorImpl<char>& object, std::string& log) {
  std::string error;
  const llvm::Target* t = llvm::TargetRegistry::lookupTarget(target.triple, error);
  if (t == nullptr) {
    log += "hostcc: no LLVM target for " + target.triple + ": " + error + "\n";
    return false;
  }
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(t->createTargetMachine(
      target.triple, target.cpu, target.features, options, llvm::Reloc::PIC_, llvm::None, llvm::CodeGenOpt::Aggressive));
  if (!machine) {
    log += "hostcc: cannot make a target machine for " + target.triple + " " + target.cpu + "\n";
    return false;
  }
  module.setDataLayout(machine->createDataLayout());
  module.setTargetTriple(target.triple);
  llvm::raw_svector_ostream os(object);
  llvm::legacy::PassManager pm;
  if (machine->addPassesToEmitFile(pm, os, nullptr, llvm::CGFT_ObjectFile)) {
    log += "hostcc: the target cannot emit object files\n";
    return false;
  }
  pm.run(module);
  return true;
}

// The process's JIT: one LLJIT, each module its own JITDylib (programs reuse entry names),
// resolving what the code calls (memset, tanhf ...) from the process.
struct Jit {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::string error;
  std::atomic<unsigned long long> next{0};

  Jit() {
    init_llvm();
    auto j = llvm::orc::LLJITBuilder().create();
    if (!j) {
      error = llvm::toString(j.takeError());
      return;
    }
    jit = std::move(*j);
  }
  static Jit& get() {
    static Jit* instance = new Jit();  // NOTE: never destroyed: loaded code may run at exit
    return *instance;
  }
};

}  // namespace

extern "C" {

int qjit_hostcc_abi(void) { return QJIT_HOSTCC_ABI; }

char* qjit_hostcc_host_identity(void) {
  init_llvm();
  const Target t;
  return dup("{\"clang\":\"" + json_escape(clang::getClangFullVersion()) + "\",\"triple\":\"" + json_escape(t.triple) +
             "\",\"cpu\":\"" + json_escape(t.cpu) + "\",\"features\":\"" + json_escape(t.features) + "\"}");
}

int qjit_hostcc_compile(const char* file_name, const char* source, size_t source_size, const char* const* header_names,
                        const char* const* header_contents, size_t n_headers, const char* const* args, size_t n_args,
                        char** object, size_t* object_size, char** log) {
  *object = nullptr;
  *object_size = 0;
  *log = nullptr;
  std::string text;
  try {
    init_llvm();
    Target target;
    bool use_prelude = false;
    std::vector<std::string> driver_args;
    for (size_t i = 0; i < n_args; ++i) {
      const std::string a = args[i];
      std::string v;
      if (take_prefixed(a, "-qjit-triple=", v)) {
        target.triple = v;
      } else if (take_prefixed(a, "-qjit-cpu=", v)) {
        target.cpu = v;
      } else if (take_prefixed(a, "-qjit-features=", v)) {
        target.features = v;
      } else if (a == "-qjit-prelude") {
        use_prelude = true;  // the program may include <immintrin.h> (an AVX-512 target)
      } else if (a == "-qjit-no-prelude") {
        use_prelude = false;  // NOTE: for the test that the prelude changes no object code
      } else {
        driver_args.push_back(a);
      }
    }
    std::vector<std::pair<std::string, std::string>> headers;
    for (size_t i = 0; i < n_headers; ++i) headers.emplace_back(header_names[i], header_contents[i]);
    llvm::LLVMContext ctx;
    auto module =
        front_end(ctx, file_name, std::string(source, source_size), headers, driver_args, target, use_prelude, text);
    if (!module && use_prelude) {
      // NOTE: never worse than without the prelude: a program it cannot serve parses the header
      // itself (and an error the program has is reported from that compile).
      text.clear();
      module = front_end(ctx, file_name, std::string(source, source_size), headers, driver_args, target, false, text);
    }
    llvm::SmallVector<char, 0> obj;
    if (!module || !back_end(*module, target, obj, text)) {
      *log = dup(text);
      return 1;
    }
    *object = static_cast<char*>(std::malloc(obj.size() ? obj.size() : 1));
    if (*object == nullptr) {
      *log = dup("hostcc: out of memory for the object file");
      return 1;
    }
    std::memcpy(*object, obj.data(), obj.size());
    *object_size = obj.size();
    if (!text.empty()) *log = dup(text);
    return 0;
  } catch (const std::exception& e) {
    *log = dup(text + "hostcc: " + e.what());
    return 1;
  }
}

void* qjit_hostcc_load(const char* object, size_t object_size, const char* name, char** error) {
  *error = nullptr;
  Jit& j = Jit::get();
  if (!j.jit) {
    *error = dup("cannot start LLVM's JIT: " + j.error);
    return nullptr;
  }
  const std::string dylib_name = std::string(name) + "#" + std::to_string(j.next.fetch_add(1));
  auto dylib = j.jit->getExecutionSession().createJITDylib(dylib_name);
  if (!dylib) {
    *error = dup(llvm::toString(dylib.takeError()));
    return nullptr;
  }
  auto generator = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      j.jit->getDataLayout().getGlobalPrefix());
  if (!generator) {
    *error = dup(llvm::toString(generator.takeError()));
    return nullptr;
  }
  dylib->addGenerator(std::move(*generator));
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(object, object_size), dylib_name);
  if (auto err = j.jit->addObjectFile(*dylib, std::move(buffer))) {
    *error = dup("cannot link the object file: " + llvm::toString(std::move(err)));
    llvm::consumeError(j.jit->getExecutionSession().removeJITDylib(*dylib));
    return nullptr;
  }
  return &*dylib;
}

void* qjit_hostcc_lookup(void* module, const char* symbol, char** error) {
  *error = nullptr;
  Jit& j = Jit::get();
  auto sym = j.jit->lookup(*static_cast<llvm::orc::JITDylib*>(module), symbol);
  if (!sym) {
    *error = dup(llvm::toString(sym.takeError()));
    return nullptr;
  }
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(sym->getAddress()));
}

void qjit_hostcc_unload(void* module) {
  if (module == nullptr) return;
  Jit& j = Jit::get();
  llvm::consumeError(j.jit->getExecutionSession().removeJITDylib(*static_cast<llvm::orc::JITDylib*>(module)));
}

void qjit_hostcc_free(void* p) { std::free(p); }

}  // extern "C"
