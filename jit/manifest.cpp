#include "jit/manifest.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <nlohmann/json.hpp>

#include "cache/disk_cache.hpp"
#include "common/error.hpp"
#include "common/knobs.hpp"
#include "common/log.hpp"
#include "common/sha256.hpp"
#include "jit/host_compiler.hpp"
#include "jit/nvrtc_api.hpp"
#include "jit/offline_identity.hpp"

namespace qjit::jit {

namespace {

std::string stat_tuple(const std::filesystem::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return {};
  return fmt::format("{}|{}|{}|{}", p.string(), st.st_size, st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec,
                     st.st_ino);
}

std::string hash_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  QJIT_CHECK_GEN("jit", in.good(), "cannot read {} to identify NVRTC", p.string());
  Sha256 h;
  std::string buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
  }
  return h.hex();
}

// Digest of one library file, memoized in the cache root by its stat tuple (best effort,
// through the cache's checked file operations like every other file it keeps).
std::string file_digest(const std::filesystem::path& lib) {
  const std::string tuple = stat_tuple(lib);
  cache::DiskCache disk(cache::Options::from_env());
  const std::string memo = fmt::format("nvrtc-identity-{}.txt", sha256_hex(tuple).substr(0, 16));
  if (auto text = disk.read_aux(memo)) {
    std::istringstream in(*text);
    std::string line_tuple, digest;
    if (std::getline(in, line_tuple) && std::getline(in, digest) && line_tuple == tuple && digest.size() == 64) {
      return digest;
    }
  }
  const std::string digest = hash_file(lib);
  disk.write_aux(memo, tuple + "\n" + digest + "\n");
  return digest;
}

}  // namespace

std::string nvrtc_identity() {
  // NOTE: a mutex, not call_once: finding no identity throws, and a later call (after an
  // import) must try again; only a result is kept.
  static std::mutex mu;
  static std::optional<std::string> identity;
  std::lock_guard<std::mutex> lock(mu);
  if (identity) return *identity;
  std::string why;
  const NvrtcApi* api = nvrtc_api(&why);
  if (api == nullptr) {
    identity = offline_nvrtc_identity(why);
    log(LogLevel::kInfo, "jit: NVRTC is not available ({}); GPU kernels are looked up as built by {}", why, *identity);
    return *identity;
  }
  int major = 0, minor = 0;
  api->nvrtcVersion(&major, &minor);
  nlohmann::json id = {{"version", fmt::format("{}.{}", major, minor)}};
  std::error_code ec;
  const auto lib = std::filesystem::canonical(api->library, ec);
  if (!ec) {
    id["nvrtc"] = file_digest(lib);
    // The builtins library NVRTC opens at run time sits beside it.
    for (const auto& e : std::filesystem::directory_iterator(lib.parent_path(), ec)) {
      const auto name = e.path().filename().string();
      if (name.rfind("libnvrtc-builtins.so.", 0) == 0 && name.find("alt") == std::string::npos) {
        id["builtins"] = file_digest(std::filesystem::canonical(e.path()));
        break;
      }
    }
  } else {
    log(LogLevel::kWarn, "cannot locate the NVRTC library file; the cache key uses its version only");
  }
  identity = id.dump();
  return *identity;
}

std::string make_manifest(const Program& p) {
  if (p.output == CompileOutput::kHostObject) {
    // NOTE: the target (triple, CPU, features) is in the options; the compiler is Clang, whose
    // resource headers (immintrin.h) ship with it, so its full version identifies both.
    return make_manifest(p, nlohmann::json({{"host_compiler", host_compiler_identity()}}).dump());
  }
  return make_manifest(p, nvrtc_identity());
}

std::string make_manifest(const Program& p, const std::string& nvrtc_identity_json) {
  nlohmann::json headers = nlohmann::json::array();
  for (const auto& h : p.headers) headers.push_back({{"name", h.name}, {"sha256", sha256_hex(h.content)}});
  nlohmann::json m = {
      {"manifest_version", kManifestVersion},
      {"library_abi", kLibraryAbiVersion},
      {"entry_format", cache::kEntryFormatVersion},
      {"family", p.spec.family()},
      {"spec", p.spec.to_json()},
      {"arch", p.spec.arch().str()},
      {"file_name", p.file_name},
      {"source", p.source},
      {"headers", headers},
      {"name_expressions", p.name_expressions},
      {"options", p.options},
      {"nvrtc", nlohmann::json::parse(nvrtc_identity_json)},
      {"knobs", knobs::code_affecting()},
  };
  return m.dump();
}

}  // namespace qjit::jit
