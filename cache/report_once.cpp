#include "cache/report_once.hpp"

#include <mutex>
#include <unordered_set>

namespace qjit::cache {

namespace {
struct Reported {
  std::mutex mu;
  std::unordered_set<std::string> tokens;
};
Reported& reported() {
  static Reported r;
  return r;
}
}  // namespace

bool first_report(const std::string& token) {
  auto& r = reported();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.tokens.insert(token).second;
}

void reset_reports_for_testing() {
  auto& r = reported();
  std::lock_guard<std::mutex> lock(r.mu);
  r.tokens.clear();
}

}  // namespace qjit::cache
