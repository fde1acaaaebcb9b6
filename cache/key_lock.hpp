#pragma once
// Lock-file helpers shared by DiskCache::lock and eviction. Private to cache/.

#include <filesystem>

namespace qjit::cache {

// Removes a lock file nobody holds, so evicted keys leave no files behind. A holder that
// opened it just before loses nothing: lock() re-checks that the file it locked is still
// the one at the path.
void remove_lock_if_free(const std::filesystem::path& lock_file);

}  // namespace qjit::cache
