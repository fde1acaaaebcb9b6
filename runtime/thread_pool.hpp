#pragma once
// The cpu device's worker threads: one pool per process (not a thread per call), which runs
// the blocks of a host kernel's grid (runtime/host_driver.hpp) with the calling thread taking
// part. One job at a time; concurrent callers queue. Workers claim blocks from an atomic
// counter, so uneven blocks balance themselves.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qjit {

class ThreadPool {
 public:
  /// `threads` in all, the caller included (>= 1).
  explicit ThreadPool(unsigned threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned threads() const { return static_cast<unsigned>(workers_.size()) + 1; }

  /// Runs fn(i) for every i in [0, n) on at most `max_threads` threads (0: all of them) and
  /// returns when all are done. fn must not throw.
  void parallel_for(std::int64_t n, const std::function<void(std::int64_t)>& fn, unsigned max_threads = 0);

 private:
  void worker_loop(unsigned index);
  void run_share();

  std::vector<std::thread> workers_;
  std::mutex job_mu_;  // one job at a time
  std::mutex mu_;
  std::condition_variable wake_, done_;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
  const std::function<void(std::int64_t)>* fn_ = nullptr;
  std::int64_t n_ = 0;
  unsigned active_workers_ = 0;  // workers that take part in the current job
  unsigned running_ = 0;         // workers still inside the current job
  std::int64_t next_ = 0;        // guarded by mu_ for the claim (blocks are coarse)
};

}  // namespace qjit
