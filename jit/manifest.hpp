#pragma once
// The cache manifest of a Program: everything that determines the compiled output, never
// the output itself (DESIGN.md section 4). Its sha256 is the cache key.

#include <string>

#include "jit/program.hpp"

namespace qjit::jit {

// NOTE: bump when the meaning of an entry's sections or the generated code changes without
// a template change (e.g. a new metadata field).
inline constexpr int kManifestVersion = 1;
inline constexpr int kLibraryAbiVersion = 1;

std::string make_manifest(const Program& program);  // canonical JSON
// The same with an explicit NVRTC identity (tests vary it).
std::string make_manifest(const Program& program, const std::string& nvrtc_identity_json);

// NVRTC's identity: its version and a sha256 of the libnvrtc and libnvrtc-builtins files
// (nvrtcVersion says 13.0 for every 13.0.x). Hashing ~100 MB is slow, so the digest is
// memoized per process and on disk next to the cache, keyed by path, size, mtime and inode.
// Without NVRTC: the identity the cache's kernels were built with (offline_identity.hpp), or
// throws qjit::Error ("nvrtc") saying what to do.
std::string nvrtc_identity();

}  // namespace qjit::jit
