#pragma once
// Lock-file helpers shared by DiskCache::lock, eviction and clear. Private to cache/.

#include <string>

#include "cache/trusted_dir.hpp"

namespace qjit::cache {

// Removes a lock file nobody holds, so evicted keys leave no files behind. A holder that
// opened it just before loses nothing: lock() re-checks that the file it locked is still
// the one at the name. Returns 0 (removed, or already gone), EBUSY (held) or an errno value.
int remove_lock_if_free(const TrustedDir& dir, const std::string& name);

}  // namespace qjit::cache
