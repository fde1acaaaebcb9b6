#include "jit/tuning_db.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "cache/report_once.hpp"
#include "common/error.hpp"
#include "common/log.hpp"
#include "common/sha256.hpp"
#include "jit/jit.hpp"

namespace qjit::jit {

namespace {

using nlohmann::json;

constexpr const char* kFormat = "qjit-tuning";

template <typename T>
T field(const json& j, const char* name) {
  QJIT_CHECK_GEN("tuning", j.is_object() && j.contains(name), "a tuning record lacks '{}'", name);
  try {
    return j.at(name).get<T>();
  } catch (const json::exception&) {
    QJIT_THROW("tuning", "a tuning record's '{}' has the wrong type", name);
  }
}

}  // namespace

std::string TuningKey::str() const {
  // NOTE: nlohmann's objects keep their keys sorted, so the dump is canonical.
  return json{{"family", family}, {"desc", desc}, {"device", device}, {"arch", arch}, {"toolchain", toolchain}}.dump();
}

json TuningRecord::to_json() const {
  return {{"family", key.family},
          {"desc", key.desc},
          {"device", key.device},
          {"arch", key.arch},
          {"toolchain", key.toolchain},
          {"config", config},
          {"config_label", config_label},
          {"method", method},
          {"median_us", median_us},
          {"p20_us", p20_us},
          {"p80_us", p80_us},
          {"heuristic_us", heuristic_us},
          {"heuristic_label", heuristic_label},
          {"candidates", candidates},
          {"tuned_at", tuned_at}};
}

TuningRecord TuningRecord::from_json(const json& j) {
  TuningRecord r;
  r.key.family = field<std::string>(j, "family");
  QJIT_CHECK_GEN("tuning", j.contains("desc") && j.at("desc").is_object(), "a tuning record's 'desc' is not an object");
  r.key.desc = j.at("desc");
  r.key.device = field<std::string>(j, "device");
  r.key.arch = field<std::string>(j, "arch");
  r.key.toolchain = field<std::string>(j, "toolchain");
  QJIT_CHECK_GEN("tuning", j.contains("config") && j.at("config").is_object(),
                 "a tuning record's 'config' is not an object");
  r.config = j.at("config");
  r.config_label = field<std::string>(j, "config_label");
  r.method = field<std::string>(j, "method");
  QJIT_CHECK_GEN("tuning", r.method == "measured" || r.method == "model",
                 "a tuning record's method '{}' is neither 'measured' nor 'model'", r.method);
  r.median_us = field<double>(j, "median_us");
  r.p20_us = field<double>(j, "p20_us");
  r.p80_us = field<double>(j, "p80_us");
  r.heuristic_us = field<double>(j, "heuristic_us");
  r.heuristic_label = field<std::string>(j, "heuristic_label");
  r.candidates = field<int>(j, "candidates");
  r.tuned_at = field<std::int64_t>(j, "tuned_at");
  return r;
}

std::optional<std::map<std::string, TuningRecord>> TuningDb::parse(const std::string& text, std::string* why,
                                                                 bool* newer_version) {
  auto fail = [&](std::string problem) -> std::optional<std::map<std::string, TuningRecord>> {
    if (why) *why = std::move(problem);
    return std::nullopt;
  };
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail("not a JSON object");
  if (!j.contains("format") || j["format"] != kFormat) return fail(fmt::format("its format is not '{}'", kFormat));
  if (!j.contains("version") || !j["version"].is_number_integer()) return fail("it has no integer 'version'");
  const auto version = j["version"].get<std::int64_t>();
  if (version != kTuningDbVersion) {
    if (newer_version) *newer_version = version > kTuningDbVersion;
    return fail(fmt::format("it is version {}, this qjit reads version {}", version, kTuningDbVersion));
  }
  if (!j.contains("records") || !j["records"].is_array()) return fail("it has no 'records' array");
  std::map<std::string, TuningRecord> out;
  for (const json& r : j["records"]) {
    try {
      TuningRecord rec = TuningRecord::from_json(r);
      out[rec.key.str()] = std::move(rec);
    } catch (const Error& e) {
      return fail(e.what());
    }
  }
  return out;
}

std::string TuningDb::serialize(const std::map<std::string, TuningRecord>& records) {
  // NOTE: newest first, and the oldest dropped past the size bound (a record is ~0.5 KiB).
  std::vector<const TuningRecord*> order;
  for (const auto& [key, r] : records) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(),
                   [](const TuningRecord* a, const TuningRecord* b) { return a->tuned_at > b->tuned_at; });
  json list = json::array();
  std::uint64_t bytes = 64;
  for (const TuningRecord* r : order) {
    json rj = r->to_json();
    bytes += rj.dump().size() + 8;
    if (bytes > kTuningDbMaxBytes / 2) break;  // NOTE: pretty printing at most doubles it
    list.push_back(std::move(rj));
  }
  return json{{"format", kFormat}, {"version", kTuningDbVersion}, {"records", std::move(list)}}.dump(1) + "\n";
}

TuningDb& TuningDb::global() {
  static TuningDb db(Jit::global().disk());
  return db;
}

std::map<std::string, TuningRecord> TuningDb::read_file() {
  std::string problem;
  const std::optional<std::string> text = disk_.read_aux(kTuningDbFile, kTuningDbMaxBytes, &problem);
  std::string why = problem;
  bool newer = false;
  std::optional<std::map<std::string, TuningRecord>> parsed;
  if (text) parsed = parse(*text, &why, &newer);
  newer_ = newer;
  if (parsed) return std::move(*parsed);
  if (!why.empty() && cache::first_report("tuning-db-unreadable")) {
    log(LogLevel::kWarn, "tuning: ignoring the tuning database {} ({}); kernels use their heuristics{}",
        (disk_.options().dir / kTuningDbFile).string(), why,
        newer ? "" : ", and the next `qjit autotune` replaces it");
  }
  return {};
}

void TuningDb::ensure_loaded() {
  if (loaded_) return;
  records_ = read_file();
  loaded_ = true;
}

std::optional<TuningRecord> TuningDb::find(const TuningKey& key) {
  std::lock_guard<std::mutex> lock(mu_);
  ensure_loaded();
  const auto it = records_.find(key.str());
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

std::vector<TuningRecord> TuningDb::all() {
  std::lock_guard<std::mutex> lock(mu_);
  ensure_loaded();
  std::vector<TuningRecord> out;
  for (const auto& [key, r] : records_) out.push_back(r);
  return out;
}

bool TuningDb::put(const std::vector<TuningRecord>& records) {
  std::lock_guard<std::mutex> lock(mu_);
  ensure_loaded();
  for (const TuningRecord& r : records) records_[r.key.str()] = r;
  ++generation_;
  if (!disk_.options().enabled) return false;
  // NOTE: the cross-process lock of a fixed key; another writer's records, published since
  // this process read the file, are merged in rather than overwritten.
  const auto file_lock = disk_.lock(sha256_hex(std::string("qjit tuning database ") + kTuningDbFile), "tuning");
  std::map<std::string, TuningRecord> merged = read_file();
  if (newer_) {
    if (cache::first_report("tuning-db-newer")) {
      log(LogLevel::kWarn, "tuning: not writing {}: a newer qjit wrote it; this run's results stay in memory",
          (disk_.options().dir / kTuningDbFile).string());
    }
    return false;
  }
  for (const TuningRecord& r : records) merged[r.key.str()] = r;
  const bool ok = disk_.write_aux(kTuningDbFile, serialize(merged));
  for (auto& [key, r] : merged) records_.insert_or_assign(key, std::move(r));
  for (const TuningRecord& r : records) records_[r.key.str()] = r;
  return ok;
}

void TuningDb::reload() {
  std::lock_guard<std::mutex> lock(mu_);
  loaded_ = false;
  records_.clear();
  ++generation_;
}

}  // namespace qjit::jit
