// One of the processes of multi_process_test.cpp: takes the key lock (unless told not to),
// loads, and on a miss "compiles" (sleeps 200 ms and appends a line to a counter file) and
// stores. Exits 0 when it ends with a hit on disk.
//
//   qjit_cache_race_helper <cache dir> <counter file> lock|nolock

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "cache/disk_cache.hpp"
#include "common/sha256.hpp"

int main(int argc, char** argv) {
  using namespace qjit::cache;
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <cache dir> <counter file> lock|nolock\n", argv[0]);
    return 2;
  }
  Options o;
  o.dir = argv[1];
  DiskCache cache(o);

  Entry entry;
  entry.manifest = R"({"arch":"sm_90a","family":"race"})";
  entry.sections["cubin"] = std::string(4096, 'c');
  const std::string key = qjit::sha256_hex(entry.manifest);

  std::unique_ptr<DiskCache::KeyLock> lock;
  if (std::strcmp(argv[3], "lock") == 0) lock = cache.lock(key);
  if (cache.load(key, entry.manifest).status != LoadStatus::kHit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the compile
    const int fd = ::open(argv[2], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, "compiled\n", 9) != 9) return 4;
    ::close(fd);
    if (!cache.store(key, entry)) return 5;
  }
  lock.reset();
  LoadResult r = cache.load(key, entry.manifest);
  if (r.status != LoadStatus::kHit || *r.entry != entry) return 6;
  return 0;
}
