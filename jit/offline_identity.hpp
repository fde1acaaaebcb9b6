#pragma once
// Which NVRTC built the GPU kernels of a cache, on a machine without NVRTC. A GPU entry's
// key is the sha256 of its manifest, which names the NVRTC that built it (manifest.hpp);
// without the library that identity cannot be computed, so it is taken from where the
// entries came from: the bundle QJIT_CACHE_BUNDLE names, else the one `qjit cache import`
// last stored (it records the bundle's identity in the cache root, nvrtc-identity-import.json).
// A wrong or forged record only makes keys miss: it never selects code that was not stored
// under its own manifest's sha256.

#include <optional>
#include <string>
#include <vector>

#include "cache/bundle.hpp"

namespace qjit::jit {

/// The NVRTC identity (manifest.hpp's JSON) that the bundle's GPU entries were built with:
/// the most common one; none for a bundle of host objects only.
std::optional<std::string> bundle_nvrtc_identity(const std::vector<cache::BundleEntry>& entries);

/// Records `identity` in the cache root as the one imported kernels were built with; one
/// record: a bundle of another NVRTC replaces it (with a warning). False, with a warning, when
/// it cannot be written.
bool record_imported_nvrtc_identity(cache::DiskCache& disk, const std::string& identity);

/// The identity to key GPU kernels with when NVRTC is missing (`why`: why it is): from
/// QJIT_CACHE_BUNDLE's bundle, else the cache's import record. Throws qjit::Error ("nvrtc")
/// saying what to do when neither gives one.
std::string offline_nvrtc_identity(const std::string& why);

}  // namespace qjit::jit
