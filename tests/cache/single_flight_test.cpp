// SingleFlight: one compute per key among concurrent callers, errors shared and not kept.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cache/single_flight.hpp"

namespace qjit::cache::testing {
namespace {

using namespace std::chrono_literals;

constexpr int kThreads = 16;

// Starts kThreads threads that each call fn(i) once `arrived` is counted, and joins them.
template <typename Fn>
void run_threads(std::atomic<int>& arrived, Fn fn) {
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ++arrived;
      fn(i);
    });
  }
  for (auto& t : threads) t.join();
}

// The leader waits for every caller to arrive (and a little more, for them to reach the
// wait), so the test checks sharing rather than timing luck.
void wait_for_everyone(const std::atomic<int>& arrived) {
  while (arrived.load() < kThreads) std::this_thread::sleep_for(1ms);
  std::this_thread::sleep_for(30ms);
}

TEST(SingleFlight, ConcurrentCallersComputeOnceAndShare) {
  SingleFlight<std::string, std::string> flights;
  std::atomic<int> computes{0}, arrived{0};
  std::vector<std::shared_ptr<const std::string>> got(kThreads);
  run_threads(arrived, [&](int i) {
    got[i] = flights.get("k", [&] {
      ++computes;
      wait_for_everyone(arrived);
      return std::string("value");
    });
  });
  EXPECT_EQ(computes.load(), 1);
  for (const auto& v : got) {
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v.get(), got[0].get()) << "one shared object";
    EXPECT_EQ(*v, "value");
  }
  EXPECT_EQ(flights.find("k"), got[0]);
  EXPECT_EQ(flights.get("k", [&]() -> std::string { throw std::logic_error("not called"); }), got[0]);
}

TEST(SingleFlight, ErrorsReachEveryWaiterAndTheKeyIsRetried) {
  SingleFlight<int, int> flights;
  std::atomic<int> computes{0}, arrived{0}, failures{0};
  run_threads(arrived, [&](int) {
    try {
      flights.get(7, [&]() -> int {
        ++computes;
        wait_for_everyone(arrived);
        throw std::runtime_error("nvrtc failed");
      });
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()) == "nvrtc failed") ++failures;
    }
  });
  EXPECT_EQ(computes.load(), 1);
  EXPECT_EQ(failures.load(), kThreads);
  EXPECT_EQ(flights.find(7), nullptr) << "a failure is not remembered";
  EXPECT_EQ(*flights.get(7, [] { return 42; }), 42);
  EXPECT_EQ(*flights.find(7), 42);
}

TEST(SingleFlight, KeysAreIndependent) {
  SingleFlight<int, int> flights;
  std::atomic<int> computes{0}, arrived{0};
  run_threads(arrived, [&](int i) {
    flights.get(i % 4, [&, i] {
      ++computes;
      return i % 4;
    });
  });
  EXPECT_LE(computes.load(), kThreads);
  EXPECT_GE(computes.load(), 4);
  EXPECT_EQ(flights.size(), 4u);
  for (int k = 0; k < 4; ++k) EXPECT_EQ(*flights.find(k), k);
}

TEST(SingleFlight, ComputeMayReturnASharedPointer) {
  SingleFlight<std::string, std::vector<int>> flights;
  auto made = std::make_shared<const std::vector<int>>(3, 1);
  EXPECT_EQ(flights.get("v", [&] { return made; }), made);
  flights.erase("v");
  EXPECT_EQ(flights.find("v"), nullptr);
  EXPECT_EQ(flights.get("v", [] { return std::vector<int>{2}; })->at(0), 2);
  flights.clear();
  EXPECT_EQ(flights.size(), 0u);
}

}  // namespace
}  // namespace qjit::cache::testing
