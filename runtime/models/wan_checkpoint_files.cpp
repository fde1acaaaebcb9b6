#include "runtime/models/wan_checkpoint_files.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

#include "common/error.hpp"

namespace qjit {

namespace {

constexpr const char* kSub = "checkpoint";
constexpr std::string_view kIndexSuffix = ".safetensors.index.json";

bool ends_with(const std::filesystem::path& p, std::string_view suffix) { return p.filename().string().ends_with(suffix); }

}  // namespace

void CheckpointFiles::add(SafetensorsFile file) {
  const std::size_t shard = files_.size();
  for (const std::string& name : file.names()) {
    const auto [it, fresh] = owner_.emplace(name, shard);
    QJIT_CHECK_GEN(kSub, fresh, "{}: tensor '{}' is in two shards, {} and {}", where_, name,
                   files_[it->second].path().string(), file.path().string());
    names_.push_back(name);
  }
  files_.push_back(std::move(file));
}

const SafetensorsFile& CheckpointFiles::file_of(std::string_view name) const {
  const auto it = owner_.find(name);
  QJIT_CHECK_GEN(kSub, it != owner_.end(), "{}: no tensor '{}'", where_, name);
  return files_[it->second];
}

CheckpointFiles CheckpointFiles::open(const std::filesystem::path& path) {
  CheckpointFiles c;
  std::error_code ec;
  std::filesystem::path index;
  std::vector<std::filesystem::path> shards;
  if (std::filesystem::is_directory(path, ec)) {
    std::vector<std::filesystem::path> indexes;
    for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
      if (ends_with(e.path(), kIndexSuffix)) indexes.push_back(e.path());
      else if (e.path().extension() == ".safetensors") shards.push_back(e.path());
    }
    std::sort(indexes.begin(), indexes.end());
    std::sort(shards.begin(), shards.end());
    QJIT_CHECK_GEN(kSub, indexes.size() <= 1, "{}: {} indexes ({} and {}): give the one to read", path.string(),
                   indexes.size(), indexes[0].filename().string(), indexes[1].filename().string());
    QJIT_CHECK_GEN(kSub, !indexes.empty() || !shards.empty(), "{}: the directory holds no .safetensors file",
                   path.string());
    if (!indexes.empty()) index = indexes.front();
  } else if (ends_with(path, ".json")) {
    index = path;
  } else {
    shards = {path};
  }
  if (index.empty()) {
    c.where_ = shards.size() == 1 ? shards.front().string()
                                  : fmt::format("{} ({} shards)", path.string(), shards.size());
    for (const auto& s : shards) c.add(SafetensorsFile::open(s, SafetensorsFile::Access::kMap));
    return c;
  }
  // An index: {"weight_map": {"<tensor>": "<shard file, relative to the index>"}, ...}.
  std::ifstream in(index, std::ios::binary);
  QJIT_CHECK_GEN(kSub, in.good(), "{}: cannot read the index", index.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()));
  } catch (const nlohmann::json::exception& e) {
    QJIT_THROW(kSub, "{}: the index is not JSON: {}", index.string(), e.what());
  }
  QJIT_CHECK_GEN(kSub, j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
                 "{}: the index has no \"weight_map\" object (tensor name -> shard file)", index.string());
  std::map<std::string, std::string> placed;
  std::set<std::string> files;
  for (const auto& [name, file] : j["weight_map"].items()) {
    QJIT_CHECK_GEN(kSub, file.is_string(), "{}: weight_map[\"{}\"] is {}, not a file name", index.string(), name,
                   file.dump());
    placed.emplace(name, file.get<std::string>());
    files.insert(file.get<std::string>());
  }
  c.where_ = fmt::format("{} ({} shards)", index.string(), files.size());
  for (const std::string& f : files) {
    const std::filesystem::path shard = index.parent_path() / f;
    QJIT_CHECK_GEN(kSub, std::filesystem::is_regular_file(shard, ec), "{}: shard '{}' does not exist", c.where_,
                   shard.string());
    c.add(SafetensorsFile::open(shard, SafetensorsFile::Access::kMap));
  }
  for (const auto& [name, file] : placed) {
    QJIT_CHECK_GEN(kSub, c.has(name) && c.file_of(name).path().filename() == std::filesystem::path(file).filename(),
                   "{}: the index places '{}' in '{}', which does not hold it", c.where_, name, file);
  }
  for (const std::string& name : c.names_) {
    QJIT_CHECK_GEN(kSub, placed.count(name) == 1, "{}: shard '{}' holds '{}', which the index does not list",
                   c.where_, c.file_of(name).path().filename().string(), name);
  }
  return c;
}

}  // namespace qjit
