#include "runtime/thread_pool.hpp"

#include <algorithm>

namespace qjit {

ThreadPool::ThreadPool(unsigned threads) {
  const unsigned n = std::max(1u, threads);
  for (unsigned i = 0; i + 1 < n; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_share() {
  for (;;) {
    std::int64_t i;
    {
      std::lock_guard lock(mu_);
      if (next_ >= n_) return;
      i = next_++;
    }
    (*fn_)(i);
  }
}

void ThreadPool::worker_loop(unsigned index) {
  std::uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stop_ || (generation_ != seen && index < active_workers_); });
      if (stop_) return;
      seen = generation_;
    }
    run_share();
    std::lock_guard lock(mu_);
    if (--running_ == 0) done_.notify_all();
  }
}

void ThreadPool::parallel_for(std::int64_t n, const std::function<void(std::int64_t)>& fn, unsigned max_threads) {
  if (n <= 0) return;
  const unsigned want = max_threads == 0 ? threads() : std::min(max_threads, threads());
  const auto helpers = static_cast<unsigned>(std::min<std::int64_t>(want - 1, n - 1));
  if (helpers == 0) {
    for (std::int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::lock_guard job(job_mu_);
  {
    std::lock_guard lock(mu_);
    fn_ = &fn;
    n_ = n;
    next_ = 0;
    active_workers_ = helpers;
    running_ = helpers;
    ++generation_;
  }
  wake_.notify_all();
  run_share();
  std::unique_lock lock(mu_);
  done_.wait(lock, [&] { return running_ == 0; });
  fn_ = nullptr;
}

}  // namespace qjit
