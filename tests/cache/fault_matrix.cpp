// The cache fault matrix: every way an entry can be hurt, many times over, with the counts of
// what the cache did. A run fails (exit 1) on the first violation of DESIGN.md section 4:
// a read that returns bytes other than what was stored, a crash or hang, a write or delete
// outside the cache, or a cache that cannot recover (store then load) afterwards.
//
//   kill      a child storing entries is SIGKILLed at a random moment, or at each step of
//             a publish; the next reader sees the old entry, the new one, or none
//   truncate  an entry cut at sampled lengths (every header field boundary among them)
//   bitflip   one bit flipped at a random position
//   concurrent  processes storing and loading the same keys at once
//   planted   links, FIFOs, sockets, devices, directories, sparse giants, hard links put
//             where entries, shards and the quarantine live
//
// Usage: qjit_cache_fault_matrix [--seed N] [--rounds N] [--json]

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cache/disk_cache.hpp"
#include "cache/report_once.hpp"
#include "common/sha256.hpp"

namespace {

namespace fs = std::filesystem;
using namespace qjit::cache;

struct Counts {
  std::map<std::string, std::map<std::string, int>> by_case;  // case -> outcome -> count
  int violations = 0;
  void add(const std::string& c, const std::string& outcome) { ++by_case[c][outcome]; }
  void violation(const std::string& c, const std::string& what) {
    ++violations;
    ++by_case[c]["VIOLATION"];
    std::fprintf(stderr, "VIOLATION [%s] %s\n", c.c_str(), what.c_str());
  }
};

Entry make_entry(const std::string& name, std::size_t payload, std::uint64_t seed) {
  Entry e;
  e.manifest = R"({"family":")" + name + R"(","version":1})";
  std::mt19937_64 rng(seed);
  std::string cubin(payload, '\0');
  for (auto& c : cubin) c = static_cast<char>(rng());
  e.sections["cubin"] = std::move(cubin);
  e.sections["ptx"] = "// " + name;
  return e;
}

std::string key_of(const Entry& e) { return qjit::sha256_hex(e.manifest); }

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Loads `e` in a child with a deadline (a hang is a violation); returns the status name,
// "hit-other" for a hit with other bytes, or "hang"/"crash".
std::string load_in_child(const Options& o, const Entry& e) {
  int fds[2];
  if (::pipe(fds) != 0) return "crash";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    ::alarm(20);
    std::string out;
    try {
      DiskCache cache(o);
      const LoadResult r = cache.load(key_of(e), e.manifest);
      out = r.status == LoadStatus::kHit && !(*r.entry == e) ? "hit-other" : to_string(r.status);
    } catch (const std::exception& ex) {
      out = std::string("threw ") + ex.what();
    }
    (void)!::write(fds[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[256];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) return WTERMSIG(status) == SIGALRM ? "hang" : "crash";
  return out;
}

// After any fault: storing and loading the entry works again (the cache recovered).
bool recovers(const Options& o, const Entry& e) {
  DiskCache cache(o);
  if (!cache.store(key_of(e), e)) return false;
  const LoadResult r = cache.load(key_of(e), e.manifest);
  return r.status == LoadStatus::kHit && *r.entry == e;
}

// --- kill -----------------------------------------------------------------------------------

// Dies at one step of a publish.
class KillAt : public FileSystem {
 public:
  enum Step { kMakeDir, kWriteHalf, kBeforeRename, kAfterRename };
  explicit KillAt(Step s) : step_(s) {}
  int make_dir(int dir, const std::string& name) override {
    if (step_ == kMakeDir) ::raise(SIGKILL);
    return FileSystem::make_dir(dir, name);
  }
  int write_temp(int dir, const std::string& prefix, const std::string& data, std::string& tmp) override {
    if (step_ == kWriteHalf) {
      FileSystem::write_temp(dir, prefix, data.substr(0, data.size() / 2), tmp);
      ::raise(SIGKILL);
    }
    const int err = FileSystem::write_temp(dir, prefix, data, tmp);
    if (step_ == kBeforeRename) ::raise(SIGKILL);
    return err;
  }
  int rename(int fd, const std::string& from, int to_fd, const std::string& to) override {
    const int err = FileSystem::rename(fd, from, to_fd, to);
    if (step_ == kAfterRename) ::raise(SIGKILL);
    return err;
  }

 private:
  Step step_;
};

void kill_cases(const fs::path& root, std::mt19937_64& rng, int rounds, Counts& counts) {
  Options o;
  o.dir = root / "kill";
  const Entry old_entry = make_entry("kill", 200'000, 1);
  Entry new_entry = old_entry;
  new_entry.sections["ptx"] = "// a rebuild with other bytes";
  // At each step of a publish, over an existing entry and over none.
  for (int step = KillAt::kMakeDir; step <= KillAt::kAfterRename; ++step) {
    for (bool existing : {false, true}) {
      if (existing && step == KillAt::kMakeDir) continue;  // an existing entry's directories exist: no mkdir
      fs::remove_all(o.dir);
      if (existing && !DiskCache(o).store(key_of(old_entry), old_entry)) counts.violation("kill", "setup store failed");
      const pid_t pid = ::fork();
      if (pid == 0) {
        Options k = o;
        k.fs = std::make_shared<KillAt>(static_cast<KillAt::Step>(step));
        DiskCache(k).store(key_of(new_entry), new_entry);
        ::_exit(3);
      }
      int status = 0;
      ::waitpid(pid, &status, 0);
      const std::string got = load_in_child(o, new_entry);
      // new_entry has the same key: a hit must be one of the two whole entries.
      const bool ok = got == "miss" || got == "hit" || (existing && got == "hit-other");
      if (!ok) counts.violation("kill", "step " + std::to_string(step) + ": " + got);
      if (!WIFSIGNALED(status)) counts.violation("kill", "the child was not killed at step " + std::to_string(step));
      counts.add("kill-at-step", got == "hit-other" ? "old entry" : got == "hit" ? "new entry" : got);
      if (!recovers(o, new_entry)) counts.violation("kill", "no recovery after step " + std::to_string(step));
    }
  }
  // At random moments of a child that publishes entries in a loop.
  std::uniform_int_distribution<int> delay_us(0, 20'000);
  for (int i = 0; i < rounds; ++i) {
    fs::remove_all(o.dir);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the matrix
      ::alarm(30);
      DiskCache cache(o);
      for (std::uint64_t n = 0;; ++n) {
        const Entry e = make_entry("loop" + std::to_string(n % 4), 100'000 + n % 4, n % 4);
        cache.store(key_of(e), e);
      }
    }
    ::usleep(static_cast<useconds_t>(delay_us(rng)));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    for (int n = 0; n < 4; ++n) {
      const Entry e = make_entry("loop" + std::to_string(n), 100'000 + n, n);
      const std::string got = load_in_child(o, e);
      if (got != "miss" && got != "hit") counts.violation("kill", "random kill: " + got);
      counts.add("kill-at-random", got);
    }
    const auto bad = DiskCache(o).verify();
    for (const auto& r : bad) {
      if (!r.ok) counts.violation("kill", "verify after a kill: " + r.problem);
    }
  }
}

// --- truncate and bit flips -----------------------------------------------------------------

void damage_cases(const fs::path& root, std::mt19937_64& rng, int rounds, Counts& counts) {
  Options o;
  o.dir = root / "damage";
  const Entry e = make_entry("damage", 4'000, 2);
  const std::string bytes = encode_entry(e);
  const fs::path path = DiskCache(o).entry_path(key_of(e));
  std::vector<std::size_t> cuts = {0, 1, 7, 8, 11, 12, 15, 16, 23, 24, 25, bytes.size() - 65, bytes.size() - 64,
                                   bytes.size() - 1};
  std::uniform_int_distribution<std::size_t> any(0, bytes.size() - 1);
  for (int i = 0; i < rounds; ++i) cuts.push_back(any(rng));
  for (const std::size_t cut : cuts) {
    if (!DiskCache(o).store(key_of(e), e)) counts.violation("truncate", "store failed");
    write_all(path, bytes.substr(0, cut));
    const std::string got = load_in_child(o, e);
    if (got != "corrupt") counts.violation("truncate", "cut at " + std::to_string(cut) + ": " + got);
    counts.add("truncate", got);
    if (!recovers(o, e)) counts.violation("truncate", "no recovery");
  }
  for (int i = 0; i < rounds * 4; ++i) {
    if (!DiskCache(o).store(key_of(e), e)) counts.violation("bitflip", "store failed");
    std::string flipped = bytes;
    const std::size_t at = any(rng);
    flipped[at] = static_cast<char>(flipped[at] ^ (1 << (rng() % 8)));
    write_all(path, flipped);
    const std::string got = load_in_child(o, e);
    if (got != "corrupt") counts.violation("bitflip", "flip at " + std::to_string(at) + ": " + got);
    counts.add("bitflip", got);
  }
  if (!recovers(o, e)) counts.violation("bitflip", "no recovery");
}

// --- concurrent processes -------------------------------------------------------------------

void concurrent_cases(const fs::path& root, int processes, Counts& counts) {
  Options o;
  o.dir = root / "concurrent";
  o.max_bytes = 6 * 60'000;  // room for about six of the ten keys: eviction races too
  std::vector<pid_t> pids;
  for (int p = 0; p < processes; ++p) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::alarm(60);
      DiskCache cache(o);
      std::mt19937_64 rng(static_cast<std::uint64_t>(p) + 100);
      int bad = 0;
      const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
      while (std::chrono::steady_clock::now() < end) {
        const int k = static_cast<int>(rng() % 10);
        const Entry e = make_entry("c" + std::to_string(k), 50'000, static_cast<std::uint64_t>(k));
        if (rng() % 2) {
          auto lock = cache.lock(key_of(e));
          cache.store(key_of(e), e);
        } else {
          const LoadResult r = cache.load(key_of(e), e.manifest);
          bad += r.status == LoadStatus::kHit && !(*r.entry == e);
          bad += r.status == LoadStatus::kCorrupt;  // nothing here writes a bad entry
        }
      }
      ::_exit(bad == 0 ? 0 : 1);
    }
    pids.push_back(pid);
  }
  for (const pid_t pid : pids) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) counts.violation("concurrent", "a process saw a bad read or died (status " + std::to_string(status) + ")");
    counts.add("concurrent-process", ok ? "clean" : "bad");
  }
  for (const auto& r : DiskCache(o).verify()) {
    counts.add("concurrent-entry", r.ok ? "valid" : "bad");
    if (!r.ok) counts.violation("concurrent", "verify: " + r.problem);
  }
}

// --- planted files --------------------------------------------------------------------------

void planted_cases(const fs::path& root, Counts& counts) {
  const fs::path outside = root / "outside";
  fs::create_directories(outside);
  write_all(outside / "precious", "precious");
  const Entry e = make_entry("planted", 1'000, 3);
  const Entry valid_elsewhere = e;
  // What is outside: every name with its bytes (nothing the cache does may change it).
  auto inventory = [&] {
    std::map<std::string, std::string> out;
    for (const auto& f : fs::directory_iterator(outside)) out[f.path().filename().string()] = read_all(f.path());
    return out;
  };

  struct Plant {
    const char* name;
    std::function<void(const Options&, const fs::path& entry)> make;
  };
  const std::vector<Plant> plants = {
      {"entry-symlink-to-file", [&](const Options&, const fs::path& p) { fs::create_symlink(outside / "precious", p); }},
      {"entry-symlink-to-valid-entry",
       [&](const Options&, const fs::path& p) {
         write_all(outside / "valid.qjit", encode_entry(valid_elsewhere));
         fs::create_symlink(outside / "valid.qjit", p);
       }},
      {"entry-dangling-symlink", [&](const Options&, const fs::path& p) { fs::create_symlink(outside / "none", p); }},
      {"entry-fifo", [&](const Options&, const fs::path& p) { ::mkfifo(p.c_str(), 0600); }},
      {"entry-socket",
       [&](const Options&, const fs::path& p) {
         // sun_path holds 107 bytes, an entry's path more: bind a short name, then move it.
         const std::string shorter = "/tmp/qjit-fm-" + std::to_string(::getpid());
         const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
         sockaddr_un addr{};
         addr.sun_family = AF_UNIX;
         std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", shorter.c_str());
         if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::rename(shorter.c_str(), p.c_str()) != 0) {
           throw std::runtime_error("cannot plant a socket");
         }
         ::close(s);
       }},
      {"entry-char-device",
       [&](const Options&, const fs::path& p) {
         if (::mknod(p.c_str(), S_IFCHR | 0600, makedev(1, 5)) != 0) throw std::runtime_error("mknod needs root");
       }},
      {"entry-directory", [&](const Options&, const fs::path& p) { fs::create_directory(p); }},
      {"entry-sparse-64GiB",
       [&](const Options&, const fs::path& p) {
         write_all(p, "");
         fs::resize_file(p, std::uintmax_t(64) << 30);
       }},
      {"entry-world-writable",
       [&](const Options& o, const fs::path& p) {
         DiskCache(o).store(key_of(e), e);
         ::chmod(p.c_str(), 0666);
       }},
      {"entry-hard-link-outside",
       [&](const Options&, const fs::path& p) {
         write_all(outside / "linked.qjit", encode_entry(e));
         fs::create_hard_link(outside / "linked.qjit", p);
       }},
      {"shard-symlink",
       [&](const Options&, const fs::path& p) {
         fs::remove_all(p.parent_path());
         write_all(outside / p.filename(), encode_entry(e));
         fs::create_directory_symlink(outside, p.parent_path());
       }},
      {"shard-world-writable",
       [&](const Options& o, const fs::path& p) {
         DiskCache(o).store(key_of(e), e);
         ::chmod(p.parent_path().c_str(), 0777);
       }},
      {"quarantine-symlink",
       [&](const Options& o, const fs::path& p) {
         fs::create_directory_symlink(outside, o.dir / "corrupt");
         write_all(p, "junk");
       }},
      {"quarantine-is-a-file",
       [&](const Options& o, const fs::path& p) {
         write_all(o.dir / "corrupt", "not a directory");
         write_all(p, "junk");
       }},
      {"temp-symlink",
       [&](const Options&, const fs::path& p) { fs::create_symlink(outside / "precious", p.string() + ".tmp.aaaaaa"); }},
      {"lock-symlink",
       [&](const Options&, const fs::path& p) {
         fs::create_symlink(outside / "precious", fs::path(p).replace_extension(".lock"));
       }},
  };
  for (const Plant& plant : plants) {
    Options o;
    o.dir = root / "planted" / plant.name;
    const fs::path p = DiskCache(o).entry_path(key_of(e));
    fs::create_directories(p.parent_path());
    ::chmod(o.dir.c_str(), 0700);
    ::chmod(p.parent_path().c_str(), 0700);
    try {
      plant.make(o, p);
    } catch (const std::exception& ex) {
      counts.add("planted", "skipped");
      std::fprintf(stderr, "skipped %s: %s\n", plant.name, ex.what());
      continue;
    }
    const auto before = inventory();
    const std::string got = load_in_child(o, e);
    const bool ok = got == "miss" || got == "corrupt" || got == "untrusted" || got == "hit";
    if (!ok) counts.violation(plant.name, "load: " + got);
    // A hit is fine only for the hard link (ours alone, through a trusted directory).
    if (got == "hit" && std::string(plant.name) != "entry-hard-link-outside" &&
        std::string(plant.name) != "temp-symlink" && std::string(plant.name) != "lock-symlink") {
      counts.violation(plant.name, "loaded through a planted file");
    }
    // Then every other operation, in a child with a deadline.
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::alarm(20);
      DiskCache cache(o);
      { auto lock = cache.lock(key_of(e)); }
      cache.store(key_of(e), e);
      cache.list();
      cache.stats();
      cache.verify();
      cache.evict_to_budget();
      cache.clear();
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) counts.violation(plant.name, "an operation crashed or hung");
    if (inventory() != before) counts.violation(plant.name, "a file outside the cache changed, appeared or vanished");
    counts.add("planted", got);
    ::chmod(p.parent_path().c_str(), 0700);
  }
  if (fs::exists(outside / "none")) counts.violation("planted", "a dangling link's target was created");
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 1;
  int rounds = 24;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--seed" && i + 1 < argc) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (a == "--json") json = true;
  }
  ::setenv("QJIT_LOG", "error", 1);  // the cache's warnings are expected here by the hundred
  char tmpl[] = "/tmp/qjit-fault-matrix-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 2;
  const fs::path root = tmpl;
  std::mt19937_64 rng(seed);
  Counts counts;
  const auto start = std::chrono::steady_clock::now();
  kill_cases(root, rng, rounds, counts);
  damage_cases(root, rng, rounds, counts);
  concurrent_cases(root, 8, counts);
  planted_cases(root, counts);
  std::error_code ec;
  fs::remove_all(root, ec);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int total = 0;
  std::string text, js = "{";
  for (const auto& [c, outcomes] : counts.by_case) {
    int n = 0;
    std::string parts, jo;
    for (const auto& [o, k] : outcomes) {
      n += k;
      parts += (parts.empty() ? "" : ", ") + std::to_string(k) + " " + o;
      jo += (jo.empty() ? "" : ",") + ("\"" + o + "\":" + std::to_string(k));
    }
    total += n;
    char line[512];
    std::snprintf(line, sizeof line, "%-22s %5d runs: %s\n", c.c_str(), n, parts.c_str());
    text += line;
    js += (js.size() > 1 ? "," : "") + ("\"" + c + "\":{" + jo + "}");
  }
  js += ",\"runs\":" + std::to_string(total) + ",\"violations\":" + std::to_string(counts.violations) +
        ",\"seconds\":" + std::to_string(seconds) + ",\"seed\":" + std::to_string(seed) + "}";
  if (json) std::printf("%s\n", js.c_str());
  else std::printf("%scache fault matrix: %d runs, %d violations, %.1f s (seed %llu)\n", text.c_str(), total,
                   counts.violations, seconds, static_cast<unsigned long long>(seed));
  return counts.violations == 0 ? 0 : 1;
}
