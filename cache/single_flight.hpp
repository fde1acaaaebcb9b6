#pragma once
// In-process single flight (DESIGN.md section 4: "in process: one compile per key,
// concurrent callers share it").
//
//   SingleFlight<std::string, Kernel> kernels;
//   std::shared_ptr<const Kernel> k = kernels.get(key, [&] { return compile(key); });
//
// Concurrent callers for one key run `compute` once and share its result. If it throws,
// every caller waiting on that run gets the exception and nothing is remembered, so a later
// call retries. Finished values stay until erase()/clear(); find() reads them under a shared
// lock only.

#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace qjit::cache {

template <typename Key, typename Value, typename Hash = std::hash<Key>>
class SingleFlight {
 public:
  using ValuePtr = std::shared_ptr<const Value>;

  // The finished value for `key`, or null (also while it is being computed).
  ValuePtr find(const Key& key) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = done_.find(key);
    return it == done_.end() ? nullptr : it->second;
  }

  // `compute` returns a Value or a std::shared_ptr<const Value>.
  // NOTE: compute must not call get() for the same key (it would wait for itself).
  template <typename Fn>
  ValuePtr get(const Key& key, Fn&& compute) {
    if (ValuePtr v = find(key)) return v;

    std::promise<ValuePtr> promise;
    std::shared_future<ValuePtr> flight;
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      if (auto it = done_.find(key); it != done_.end()) return it->second;
      if (auto it = running_.find(key); it != running_.end()) {
        flight = it->second;
      } else {
        running_.emplace(key, promise.get_future().share());
      }
    }
    if (flight.valid()) return flight.get();  // someone else computes; rethrows their error

    // This caller leads the flight.
    ValuePtr value;
    try {
      value = to_ptr(std::forward<Fn>(compute)());
    } catch (...) {
      {
        std::unique_lock<std::shared_mutex> lock(mu_);
        running_.erase(key);  // not poisoned: the next get() computes again
      }
      promise.set_exception(std::current_exception());
      throw;
    }
    {
      std::unique_lock<std::shared_mutex> lock(mu_);
      done_[key] = value;
      running_.erase(key);
    }
    promise.set_value(value);
    return value;
  }

  void erase(const Key& key) {
    std::unique_lock<std::shared_mutex> lock(mu_);
    done_.erase(key);
  }

  void clear() {
    std::unique_lock<std::shared_mutex> lock(mu_);
    done_.clear();
  }

  std::size_t size() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    return done_.size();
  }

 private:
  template <typename R>
  static ValuePtr to_ptr(R&& r) {
    using T = std::remove_cvref_t<R>;
    if constexpr (std::is_same_v<T, ValuePtr> || std::is_same_v<T, std::shared_ptr<Value>>) {
      return ValuePtr(std::forward<R>(r));
    } else {
      return std::make_shared<const Value>(std::forward<R>(r));
    }
  }

  mutable std::shared_mutex mu_;
  std::unordered_map<Key, ValuePtr, Hash> done_;
  std::unordered_map<Key, std::shared_future<ValuePtr>, Hash> running_;
};

}  // namespace qjit::cache
