// The tuning database: records round-trip through the file, writers merge (another process's
// records survive, tuning one problem keeps the others), a corrupt or foreign file is ignored
// with one warning and replaced, a newer version's file is never replaced, a directory
// someone else can write is never read, the file stays within its bound, and processes
// writing at once lose nothing.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "cache/disk_cache.hpp"
#include "jit/tuning_db.hpp"
#include "test_util.hpp"

namespace qjit::jit {
namespace {

TuningRecord record(const std::string& family, int n, double us, std::int64_t when = 1000) {
  TuningRecord r;
  r.key = {family, {{"n", n}, {"k", 64}}, "test device", "sm_90", "nvrtc 13.0"};
  r.config = {{"tile_m", 64 + n}};
  r.config_label = "label " + std::to_string(n);
  r.method = "measured";
  r.median_us = us;
  r.p20_us = us * 0.9;
  r.p80_us = us * 1.1;
  r.heuristic_us = us * 2;
  r.heuristic_label = "heuristic";
  r.candidates = 7;
  r.tuned_at = when;
  return r;
}

cache::Options options_in(const std::filesystem::path& dir) {
  cache::Options o;
  o.dir = dir;
  return o;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::trunc);
  f << text;
}

TEST(TuningDb, RecordsRoundTripThroughTheFile) {
  test::TempDir dir;
  cache::DiskCache disk(options_in(dir.path()));
  {
    TuningDb db(disk);
    EXPECT_FALSE(db.find(record("qgemm", 1, 5).key));
    ASSERT_TRUE(db.put({record("qgemm", 1, 5), record("qgemm", 2, 7)}));
  }
  TuningDb fresh(disk);
  const auto got = fresh.find(record("qgemm", 2, 0).key);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->to_json(), record("qgemm", 2, 7).to_json());
  EXPECT_EQ(fresh.all().size(), 2u);
  // The key is the problem, not the timing or config: another device is another record.
  TuningKey other = record("qgemm", 2, 0).key;
  other.device = "another device";
  EXPECT_FALSE(fresh.find(other));
}

TEST(TuningDb, RetuningOneProblemKeepsEveryOther) {
  test::TempDir dir;
  cache::DiskCache disk(options_in(dir.path()));
  TuningDb a(disk);
  ASSERT_TRUE(a.put({record("qgemm", 1, 5), record("host_qgemm_int8", 2, 7)}));
  // Another writer (another process, say) that read nothing before its put.
  TuningDb b(disk);
  ASSERT_TRUE(b.put({record("qgemm", 1, 3)}));
  TuningDb fresh(disk);
  EXPECT_EQ(fresh.all().size(), 2u);
  EXPECT_EQ(fresh.find(record("qgemm", 1, 0).key)->median_us, 3);
  EXPECT_EQ(fresh.find(record("host_qgemm_int8", 2, 0).key)->median_us, 7);
}

TEST(TuningDb, ACorruptFileIsIgnoredWithOneWarningAndReplaced) {
  test::TempDir dir;
  cache::DiskCache disk(options_in(dir.path()));
  for (const std::string& bad : {std::string("{\"format\": \"qjit-tuning\", \"version\": 1, \"records\": [{\"family\""),
                                 std::string("not json at all"), std::string("[1, 2, 3]"),
                                 std::string(R"({"format": "qjit-tuning", "version": 1, "records": [{"family": 3}]})"),
                                 std::string(R"({"format": "other", "version": 1, "records": []})")}) {
    {
      TuningDb seed(disk);
      ASSERT_TRUE(seed.put({record("qgemm", 1, 5)}));
    }
    write_text(dir.path() / kTuningDbFile, bad);
    ::chmod((dir.path() / kTuningDbFile).c_str(), 0600);
    TuningDb db(disk);
    EXPECT_FALSE(db.find(record("qgemm", 1, 0).key)) << bad;
    EXPECT_TRUE(db.all().empty());
    ASSERT_TRUE(db.put({record("qgemm", 9, 1)}));
    TuningDb fresh(disk);
    EXPECT_EQ(fresh.all().size(), 1u) << bad;
    EXPECT_TRUE(fresh.find(record("qgemm", 9, 0).key));
  }
}

TEST(TuningDb, ANewerVersionIsReadAsEmptyAndNeverReplaced) {
  test::TempDir dir;
  cache::DiskCache disk(options_in(dir.path()));
  const std::string newer = R"({"format": "qjit-tuning", "version": 99, "records": []})";
  write_text(dir.path() / kTuningDbFile, newer);
  ::chmod((dir.path() / kTuningDbFile).c_str(), 0600);
  TuningDb db(disk);
  EXPECT_TRUE(db.all().empty());
  EXPECT_FALSE(db.put({record("qgemm", 1, 5)}));
  EXPECT_EQ(read_text(dir.path() / kTuningDbFile), newer);
  EXPECT_TRUE(db.find(record("qgemm", 1, 0).key)) << "this process keeps its results in memory";
}

TEST(TuningDb, AFileOthersCanWriteIsNeverRead) {
  test::TempDir dir;
  cache::DiskCache disk(options_in(dir.path()));
  {
    TuningDb seed(disk);
    ASSERT_TRUE(seed.put({record("qgemm", 1, 5)}));
  }
  ::chmod((dir.path() / kTuningDbFile).c_str(), 0666);
  const std::string before = read_text(dir.path() / kTuningDbFile);
  TuningDb db(disk);
  EXPECT_FALSE(db.find(record("qgemm", 1, 0).key));
  EXPECT_FALSE(db.put({record("qgemm", 2, 5)})) << "nor replaced";
  EXPECT_EQ(read_text(dir.path() / kTuningDbFile), before);
}

TEST(TuningDb, ABadRecordIsSkippedAloneAndAnOversizedFileIsLeftAlone) {
  test::TempDir dir;
  cache::DiskCache disk(options_in(dir.path()));
  nlohmann::json bad = record("qgemm", 2, 5).to_json();
  bad["candidates"] = 1e300;  // not an integer
  nlohmann::json deep = record("qgemm", 3, 5).to_json();
  deep["desc"] = {{"n", {{"nested", {1, 2}}}}};  // not flat
  write_text(dir.path() / kTuningDbFile,
             nlohmann::json{{"format", "qjit-tuning"},
                            {"version", 1},
                            {"records", {record("qgemm", 1, 5).to_json(), bad, deep}}}
                 .dump());
  ::chmod((dir.path() / kTuningDbFile).c_str(), 0600);
  {
    TuningDb db(disk);
    EXPECT_TRUE(db.find(record("qgemm", 1, 0).key));
    EXPECT_EQ(db.all().size(), 1u);
  }
  // Over the size bound: never read, never replaced.
  write_text(dir.path() / kTuningDbFile, std::string(kTuningDbMaxBytes + 1, ' '));
  TuningDb db(disk);
  EXPECT_TRUE(db.all().empty());
  EXPECT_FALSE(db.put({record("qgemm", 4, 5)}));
  EXPECT_EQ(std::filesystem::file_size(dir.path() / kTuningDbFile), kTuningDbMaxBytes + 1);
}

TEST(TuningDb, TheFileKeepsTheNewestRecordsWithinItsBound) {
  test::TempDir dir;
  cache::DiskCache disk(options_in(dir.path()));
  TuningDb db(disk);
  std::vector<TuningRecord> many;
  for (int i = 0; i < 16000; ++i) many.push_back(record("qgemm", i, 1, /*when=*/i));
  ASSERT_TRUE(db.put(many));
  const auto size = std::filesystem::file_size(dir.path() / kTuningDbFile);
  EXPECT_LE(size, kTuningDbMaxBytes);
  TuningDb fresh(disk);
  EXPECT_LT(fresh.all().size(), many.size());
  EXPECT_TRUE(fresh.find(record("qgemm", 15999, 0).key)) << "the newest stays";
  EXPECT_FALSE(fresh.find(record("qgemm", 0, 0).key)) << "the oldest made room";
}

TEST(TuningDb, ProcessesWritingAtOnceLoseNothing) {
  test::TempDir dir;
  constexpr int kProcesses = 4, kEach = 15;
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(gate[1]);
      char c;
      while (::read(gate[0], &c, 1) > 0) {
      }
      cache::DiskCache disk(options_in(dir.path()));
      TuningDb db(disk);
      bool ok = true;
      for (int i = 0; i < kEach; ++i) ok = db.put({record("qgemm", p * 1000 + i, i)}) && ok;
      ::_exit(ok ? 0 : 1);
    }
    pids.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]);
  for (pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  cache::DiskCache disk(options_in(dir.path()));
  TuningDb db(disk);
  EXPECT_EQ(db.all().size(), static_cast<std::size_t>(kProcesses * kEach));
}

TEST(TuningDb, ADisabledCacheKeepsResultsInMemoryOnly) {
  test::TempDir dir;
  cache::Options o = options_in(dir.path() / "sub");
  o.enabled = false;
  cache::DiskCache disk(o);
  TuningDb db(disk);
  EXPECT_FALSE(db.put({record("qgemm", 1, 5)}));
  EXPECT_TRUE(db.find(record("qgemm", 1, 0).key));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "sub"));
}

TEST(TuningDb, ParseNamesWhatIsWrong) {
  std::string why;
  EXPECT_FALSE(TuningDb::parse(R"({"format": "qjit-tuning", "version": 1})", &why));
  EXPECT_NE(why.find("records"), std::string::npos) << why;
  bool newer = false;
  EXPECT_FALSE(TuningDb::parse(R"({"format": "qjit-tuning", "version": 2, "records": []})", &why, &newer));
  EXPECT_TRUE(newer);
  EXPECT_NE(why.find("version 2"), std::string::npos) << why;
  TuningRecord r = record("qgemm", 1, 5);
  nlohmann::json j = r.to_json();
  j["method"] = "guessed";
  const auto skipped =
      TuningDb::parse(nlohmann::json{{"format", "qjit-tuning"}, {"version", 1}, {"records", {j}}}.dump(), &why);
  ASSERT_TRUE(skipped) << "a bad record is skipped, not the file";
  EXPECT_TRUE(skipped->empty());
  EXPECT_NE(why.find("1 of its records skipped"), std::string::npos) << why;
  EXPECT_NE(why.find("guessed"), std::string::npos) << why;
}

}  // namespace
}  // namespace qjit::jit
