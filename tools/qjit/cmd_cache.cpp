// qjit cache path|ls|stats|verify|clear [--json], qjit cache import BUNDLE [--json]

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cache/bundle.hpp"
#include "cache/disk_cache.hpp"
#include "commands.hpp"
#include "common/error.hpp"
#include "common/knobs.hpp"
#include "common/memory.hpp"
#include "jit/offline_identity.hpp"

namespace qjit::cli {

namespace {

struct CacheFlags {
  bool json = false;
};

void print(const CacheFlags& f, const nlohmann::json& j, const std::string& text) {
  if (f.json) fmt::print("{}\n", j.dump(2));
  else fmt::print("{}", text);
}

void cmd_path(const CacheFlags& f) {
  const auto o = cache::Options::from_env();
  nlohmann::json knobs = nlohmann::json::array();
  for (const auto& k : knobs::all()) {
    auto v = knobs::get(k.name);
    knobs.push_back({{"name", k.name}, {"value", v ? nlohmann::json(*v) : nlohmann::json()}, {"meaning", k.meaning}});
  }
  print(f, {{"path", o.dir.string()}, {"enabled", o.enabled}, {"max_bytes", o.max_bytes}, {"knobs", knobs}},
        o.dir.string() + (o.enabled ? "" : " (disabled by QJIT_CACHE_DISABLE)") + "\n");
}

void cmd_ls(const CacheFlags& f) {
  cache::DiskCache disk(cache::Options::from_env());
  const auto entries = disk.list();
  nlohmann::json j = nlohmann::json::array();
  std::string text = fmt::format("{:<16} {:>10}  {}\n", "key", "bytes", "kernel");
  for (const auto& e : entries) {
    j.push_back({{"key", e.key}, {"path", e.path.string()}, {"bytes", e.bytes}, {"last_used_ns", e.last_used_ns},
                 {"summary", e.summary}});
    text += fmt::format("{:<16} {:>10}  {}\n", e.key.substr(0, 16), e.bytes, e.summary);
  }
  text += fmt::format("{} entries\n", entries.size());
  print(f, j, text);
}

void cmd_stats(const CacheFlags& f) {
  cache::DiskCache disk(cache::Options::from_env());
  const auto s = disk.stats();
  print(f,
        {{"path", disk.options().dir.string()}, {"entries", s.entries}, {"bytes", s.bytes}, {"max_bytes", s.max_bytes},
         {"quarantined", s.quarantined}},
        fmt::format("path        {}\nentries     {}\nbytes       {} ({})\nbudget      {}\nquarantined {}\n",
                    disk.options().dir.string(), s.entries, s.bytes, format_bytes(s.bytes), format_bytes(s.max_bytes),
                    s.quarantined));
}

int cmd_verify(const CacheFlags& f) {
  cache::DiskCache disk(cache::Options::from_env());
  const auto results = disk.verify();
  nlohmann::json j = nlohmann::json::array();
  std::string text;
  size_t bad = 0;
  for (const auto& r : results) {
    j.push_back({{"key", r.key}, {"path", r.path.string()}, {"ok", r.ok}, {"problem", r.problem}});
    if (!r.ok) {
      ++bad;
      text += fmt::format("BAD {} {}: {} (moved aside)\n", r.key.substr(0, 16), r.path.string(), r.problem);
    }
  }
  text += fmt::format("{} entries verified, {} bad\n", results.size(), bad);
  print(f, {{"entries", j}, {"checked", results.size()}, {"bad", bad}}, text);
  return bad == 0 ? 0 : 2;
}

// Exit 1 when anything could not be removed (a read-only cache, an untrusted directory),
// naming each path and why.
int cmd_clear(const CacheFlags& f) {
  cache::DiskCache disk(cache::Options::from_env());
  const auto r = disk.clear();
  print(f, {{"removed", r.removed}, {"failed", r.failed}, {"problems", r.problems}, {"path", disk.options().dir.string()}},
        fmt::format("removed {} entries from {}\n", r.removed, disk.options().dir.string()));
  for (const auto& p : r.problems) fmt::print(stderr, "qjit: error: {}\n", p);
  if (r.failed) fmt::print(stderr, "qjit: error: {} files in {} could not be removed\n", r.failed, disk.options().dir.string());
  return r.failed == 0 ? 0 : 1;
}

// Every entry of a bundle (`qjit compile --bundle`) stored in the cache, after the whole file
// checked (trust, checksum, each entry), and which NVRTC built them; exit 1 when some could
// not be stored, or that record could not.
int cmd_import(const CacheFlags& f, const std::string& path) {
  const auto entries = cache::read_bundle(path);
  cache::DiskCache disk(cache::Options::from_env());
  QJIT_CHECK_GEN("cache", disk.options().enabled, "the kernel cache is disabled (QJIT_CACHE_DISABLE): nothing to import into");
  const auto r = cache::import_bundle(disk, entries);
  // A machine without NVRTC keys the imported GPU kernels by the NVRTC that built them.
  const auto nvrtc = jit::bundle_nvrtc_identity(entries);
  const bool recorded = nvrtc && jit::record_imported_nvrtc_identity(disk, *nvrtc);
  print(f,
        {{"bundle", path}, {"entries", entries.size()}, {"imported", r.imported}, {"present", r.present},
         {"failed", r.failed}, {"path", disk.options().dir.string()},
         {"nvrtc", nvrtc ? nlohmann::json::parse(*nvrtc).value("version", "") : ""},
         {"nvrtc_recorded", recorded}},
        fmt::format("{}: {} entries, {} imported into {}, {} already there{}\n", path, entries.size(), r.imported,
                    disk.options().dir.string(), r.present, r.failed ? fmt::format(", {} failed", r.failed) : ""));
  return r.failed == 0 && (!nvrtc || recorded) ? 0 : 1;
}

}  // namespace

void add_cache(CLI::App& app) {
  auto* cache = app.add_subcommand("cache", "inspect and maintain the on-disk kernel cache");
  cache->require_subcommand(1);
  auto flags = std::make_shared<CacheFlags>();
  auto add = [&](const char* name, const char* help, std::function<void()> fn) {
    auto* sub = cache->add_subcommand(name, help);
    sub->add_flag("--json", flags->json, "print JSON");
    sub->callback(std::move(fn));
  };
  add("path", "print the cache directory and the QJIT_* knobs", [flags] { cmd_path(*flags); });
  add("ls", "list entries", [flags] { cmd_ls(*flags); });
  add("stats", "entry count, bytes, budget", [flags] { cmd_stats(*flags); });
  add("verify", "check every entry; corrupt ones are moved aside (exit 2 if any)", [flags] {
    if (int rc = cmd_verify(*flags); rc != 0) throw CLI::RuntimeError(rc);
  });
  add("clear", "remove every entry (exit 1 if anything could not be removed)", [flags] {
    if (int rc = cmd_clear(*flags); rc != 0) throw CLI::RuntimeError(rc);
  });
  auto bundle = std::make_shared<std::string>();
  auto* import = cache->add_subcommand("import", "store every kernel of a bundle (qjit compile --bundle) in the cache");
  import->add_option("bundle", *bundle, "the bundle file")->required();
  import->add_flag("--json", flags->json, "print JSON");
  import->callback([flags, bundle] {
    if (int rc = cmd_import(*flags, *bundle); rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace qjit::cli
