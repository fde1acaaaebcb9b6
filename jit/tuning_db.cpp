#include "jit/tuning_db.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "cache/report_once.hpp"
#include "common/error.hpp"
#include "common/log.hpp"
#include "common/sha256.hpp"
#include "jit/jit.hpp"

namespace qjit::jit {

namespace {

using nlohmann::json;

constexpr const char* kFormat = "qjit-tuning";

std::string text_field(const json& j, const char* name) {
  QJIT_CHECK_GEN("tuning", j.is_object() && j.contains(name) && j.at(name).is_string(),
                 "a tuning record lacks the string '{}'", name);
  const std::string& v = j.at(name).get_ref<const std::string&>();
  QJIT_CHECK_GEN("tuning", v.size() <= 4096, "a tuning record's '{}' is {} bytes long", name, v.size());
  return v;
}

double number_field(const json& j, const char* name) {
  QJIT_CHECK_GEN("tuning", j.is_object() && j.contains(name) && j.at(name).is_number(),
                 "a tuning record lacks the number '{}'", name);
  const double v = j.at(name).get<double>();
  QJIT_CHECK_GEN("tuning", std::isfinite(v) && v >= 0 && v <= 1e15, "a tuning record's '{}' is {}", name, v);
  return v;
}

std::int64_t integer_field(const json& j, const char* name, std::int64_t max) {
  QJIT_CHECK_GEN("tuning", j.is_object() && j.contains(name) && j.at(name).is_number_integer(),
                 "a tuning record lacks the integer '{}'", name);
  const std::int64_t v = j.at(name).get<std::int64_t>();
  QJIT_CHECK_GEN("tuning", v >= 0 && v <= max, "a tuning record's '{}' is {}, out of [0, {}]", name, v, max);
  return v;
}

// A desc or a config: an object of at most 64 scalars (a nested value could be deep enough to
// exhaust the stack of whatever walks it).
json flat_object(const json& j, const char* name) {
  QJIT_CHECK_GEN("tuning", j.is_object() && j.contains(name) && j.at(name).is_object() && j.at(name).size() <= 64,
                 "a tuning record's '{}' is not an object of at most 64 fields", name);
  for (const auto& [k, v] : j.at(name).items()) {
    QJIT_CHECK_GEN("tuning", v.is_primitive() && k.size() <= 64 && (!v.is_string() || v.get_ref<const std::string&>().size() <= 256),
                   "a tuning record's '{}.{}' is not a short scalar", name, k.substr(0, 64));
  }
  return j.at(name);
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
  r.key.family = text_field(j, "family");
  r.key.desc = flat_object(j, "desc");
  r.key.device = text_field(j, "device");
  r.key.arch = text_field(j, "arch");
  r.key.toolchain = text_field(j, "toolchain");
  r.config = flat_object(j, "config");
  r.config_label = text_field(j, "config_label");
  r.method = text_field(j, "method");
  QJIT_CHECK_GEN("tuning", r.method == "measured" || r.method == "model",
                 "a tuning record's method '{}' is neither 'measured' nor 'model'", r.method.substr(0, 64));
  r.median_us = number_field(j, "median_us");
  r.p20_us = number_field(j, "p20_us");
  r.p80_us = number_field(j, "p80_us");
  r.heuristic_us = number_field(j, "heuristic_us");
  r.heuristic_label = text_field(j, "heuristic_label");
  r.candidates = static_cast<int>(integer_field(j, "candidates", 1 << 20));
  r.tuned_at = integer_field(j, "tuned_at", std::int64_t{1} << 40);
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
  // NOTE: a bad record is skipped (and said, with how many), never the records beside it.
  std::map<std::string, TuningRecord> out;
  std::size_t bad = 0;
  std::string first_bad;
  for (const json& r : j["records"]) {
    try {
      TuningRecord rec = TuningRecord::from_json(r);
      out[rec.key.str()] = std::move(rec);
    } catch (const Error& e) {
      if (bad++ == 0) first_bad = e.message();
    }
  }
  if (bad != 0 && why) *why = fmt::format("{} of its records skipped, the first because {}", bad, first_bad);
  return out;
}

std::string TuningDb::serialize(const std::map<std::string, TuningRecord>& records) {
  // NOTE: newest first, one compact record per line, the oldest dropped past the size bound.
  std::vector<const TuningRecord*> order;
  for (const auto& [key, r] : records) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(),
                   [](const TuningRecord* a, const TuningRecord* b) { return a->tuned_at > b->tuned_at; });
  std::string out = fmt::format("{{\"format\": \"{}\", \"version\": {}, \"records\": [", kFormat, kTuningDbVersion);
  const std::string end = "\n]}\n";
  bool first = true;
  for (const TuningRecord* r : order) {
    const std::string line = (first ? "\n" : ",\n") + r->to_json().dump();
    if (out.size() + line.size() + end.size() > kTuningDbMaxBytes) break;
    out += line;
    first = false;
  }
  return out + end;
}

TuningDb& TuningDb::global() {
  static TuningDb db(Jit::global().disk());
  return db;
}

std::map<std::string, TuningRecord> TuningDb::read_file() {
  std::string problem;
  const std::optional<std::string> text = disk_.read_aux(kTuningDbFile, kTuningDbMaxBytes, &problem);
  keep_file_ = false;
  std::string why = problem;
  bool newer = false;
  std::optional<std::map<std::string, TuningRecord>> parsed;
  if (text) parsed = parse(*text, &why, &newer);
  // NOTE: a file that exists but cannot be read (too large, not ours alone, an I/O error) or
  // that a newer qjit wrote is never replaced: only one we can read and do not understand is.
  keep_file_ = !problem.empty() || newer;
  if (!why.empty() && cache::first_report("tuning-db-unreadable")) {
    const char* next = keep_file_           ? "; it is left as it is"
                       : parsed.has_value() ? ""
                                            : "; the next `qjit autotune` replaces it";
    log(LogLevel::kWarn, "tuning: {} the tuning database {} ({}){}", parsed ? "reading" : "ignoring",
        (disk_.options().dir / kTuningDbFile).string(), why, next);
  }
  return parsed ? std::move(*parsed) : std::map<std::string, TuningRecord>{};
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
  bool ok = false;
  if (!disk_.options().enabled) {
    if (cache::first_report("tuning-db-disabled")) {
      log(LogLevel::kWarn, "tuning: the kernel cache is disabled (QJIT_CACHE_DISABLE), so the tuning database is "
                           "not written; results stay in this process");
    }
  } else {
    // NOTE: under the cache's cross-process lock, the file is read again and this put's records
    // merged in, so other writers' records survive. The lock is best effort (a stuck holder
    // is waited for only so long): without it, the write is read back and retried until this
    // put's records are there.
    const std::string lock_key = sha256_hex(std::string("qjit tuning database ") + kTuningDbFile);
    for (int attempt = 0; attempt < 3 && !ok; ++attempt) {
      const auto file_lock = disk_.lock(lock_key, "writing the tuning database");
      std::map<std::string, TuningRecord> merged = read_file();
      if (keep_file_) {
        if (cache::first_report("tuning-db-kept")) {
          log(LogLevel::kWarn, "tuning: not writing {}, which this qjit cannot read or a newer one wrote; results stay "
                               "in this process",
              (disk_.options().dir / kTuningDbFile).string());
        }
        break;
      }
      for (const TuningRecord& r : records) merged[r.key.str()] = r;
      if (!disk_.write_aux(kTuningDbFile, serialize(merged))) break;
      for (auto& [key, r] : merged) records_.insert_or_assign(key, std::move(r));
      for (const TuningRecord& r : records) records_[r.key.str()] = r;
      ok = file_lock->held();
      if (!ok) {
        const std::map<std::string, TuningRecord> back = read_file();
        ok = std::all_of(records.begin(), records.end(), [&](const TuningRecord& r) { return back.count(r.key.str()); });
      }
    }
  }
  ++generation_;  // NOTE: after the last change to records_, so no memo keeps an older answer
  return ok;
}

void TuningDb::reload() {
  std::lock_guard<std::mutex> lock(mu_);
  loaded_ = false;
  records_.clear();
  ++generation_;
}

}  // namespace qjit::jit
