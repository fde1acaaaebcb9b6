#include "jit/offline_identity.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/knobs.hpp"
#include "common/log.hpp"

namespace qjit::jit {

namespace {

constexpr const char* kRecord = "nvrtc-identity-import.json";

// The manifest's "nvrtc" member when it is an NVRTC identity ({"version": ...}), dumped as
// nvrtc_identity() dumps it; host objects name their compiler instead.
std::optional<std::string> identity_of(const nlohmann::json& id) {
  if (!id.is_object() || !id.contains("version") || !id["version"].is_string()) return std::nullopt;
  return id.dump();
}

}  // namespace

std::optional<std::string> bundle_nvrtc_identity(const std::vector<cache::BundleEntry>& entries) {
  std::map<std::string, std::size_t> counts;
  for (const auto& e : entries) {
    const auto m = nlohmann::json::parse(e.entry.manifest, nullptr, /*allow_exceptions=*/false);
    if (!m.is_object() || !m.contains("nvrtc")) continue;
    if (auto id = identity_of(m["nvrtc"])) ++counts[*id];
  }
  if (counts.empty()) return std::nullopt;
  if (counts.size() > 1) {
    log(LogLevel::kWarn, "the bundle's GPU kernels were built by {} different NVRTCs; without NVRTC only those of "
        "the most common one are found", counts.size());
  }
  return std::max_element(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

bool record_imported_nvrtc_identity(cache::DiskCache& disk, const std::string& identity) {
  if (const auto old = disk.read_aux(kRecord)) {
    const auto previous = identity_of(nlohmann::json::parse(*old, nullptr, /*allow_exceptions=*/false));
    if (previous && *previous != identity) {
      log(LogLevel::kWarn,
          "the kernels imported before were built by another NVRTC ({}); without NVRTC only this bundle's ({}) are "
          "found from now on",
          *previous, identity);
    }
  }
  if (disk.write_aux(kRecord, identity + "\n")) return true;
  log(LogLevel::kWarn, "cannot record which NVRTC built the imported kernels in {}: without NVRTC they are not found",
      disk.options().dir.string());
  return false;
}

std::string offline_nvrtc_identity(const std::string& why) {
  std::string tried;
  if (const auto path = knobs::cache_bundle()) {
    try {
      if (auto id = bundle_nvrtc_identity(cache::read_bundle(*path))) return *id;
      tried = fmt::format("QJIT_CACHE_BUNDLE's bundle {} holds no GPU kernels; ", *path);
    } catch (const Error& e) {
      tried = fmt::format("QJIT_CACHE_BUNDLE: {}; ", e.message());
    } catch (const std::exception& e) {
      tried = fmt::format("QJIT_CACHE_BUNDLE: cannot read {}: {}; ", *path, e.what());
    }
  }
  cache::DiskCache disk(cache::Options::from_env());
  std::string problem;
  if (const auto text = disk.read_aux(kRecord, cache::kMaxAuxBytes, &problem)) {
    if (auto id = identity_of(nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false))) return *id;
    problem = fmt::format("{} in {} is not an NVRTC identity", kRecord, disk.options().dir.string());
  }
  throw Error("nvrtc", __FILE__, __LINE__,
              fmt::format("NVRTC is not available ({}) and nothing says which NVRTC built the cached GPU kernels: "
                          "{}{}. Install NVRTC, or import the kernels with `qjit cache import BUNDLE` (a bundle from "
                          "`qjit compile --bundle`) or name the bundle in QJIT_CACHE_BUNDLE",
                          why, tried,
                          problem.empty() ? "no `qjit cache import` recorded one in " + disk.options().dir.string()
                                          : problem));
}

}  // namespace qjit::jit
