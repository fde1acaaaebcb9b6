#include "runtime/module.hpp"

#include <cxxabi.h>

#include <cstdlib>

#include "common/error.hpp"

namespace qjit {

namespace {

// "blocks.3.ffn" -> {"blocks", "3", "ffn"}; "" -> {}.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty()) return out;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = path.find('.', start);
    out.push_back(path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

std::string child_names(const Module& m) {
  std::string out;
  for (const Module::Child& c : m.children()) out += (out.empty() ? "" : ", ") + c.name;
  return out.empty() ? "none" : out;
}

}  // namespace

std::string Module::readable_type_name(const std::type_info& t) {
  int status = 0;
  char* d = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
  std::string name = status == 0 && d != nullptr ? d : t.name();
  std::free(d);
  if (name.rfind("qjit::", 0) == 0) name.erase(0, 6);
  return name;
}

Module* Module::child(std::string_view name) const {
  for (const Child& c : children_) {
    if (c.name == name) return c.module.get();
  }
  return nullptr;
}

Module& Module::at(std::string_view path) {
  Module* m = this;
  std::string walked;
  for (std::string_view seg : split_path(path)) {
    Module* next = m->child(seg);
    QJIT_CHECK_GEN("module", next != nullptr, "no module '{}' in '{}': {} has children {}", path,
                   walked.empty() ? "the model" : walked, walked.empty() ? "the model" : "'" + walked + "'",
                   child_names(*m));
    walked += (walked.empty() ? "" : ".") + std::string(seg);
    m = next;
  }
  return *m;
}

std::shared_ptr<Module> Module::shared_at(std::string_view path) {
  const auto dot = path.rfind('.');
  Module& parent = dot == std::string_view::npos ? *this : at(path.substr(0, dot));
  const std::string_view name = dot == std::string_view::npos ? path : path.substr(dot + 1);
  for (const Child& c : parent.children_) {
    if (c.name == name) return c.module;
  }
  at(path);  // throws naming what exists
  QJIT_THROW("module", "no module '{}'", path);
}

bool Module::contains(std::string_view path) const {
  const Module* m = this;
  for (std::string_view seg : split_path(path)) {
    m = m->child(seg);
    if (m == nullptr) return false;
  }
  return true;
}

void Module::collect(const std::string& prefix, std::vector<NamedModule>& out) {
  for (Child& c : children_) {
    const std::string path = prefix.empty() ? c.name : prefix + "." + c.name;
    out.push_back({path, c.module.get()});
    c.module->collect(path, out);
  }
}

std::vector<NamedModule> Module::named_modules() {
  std::vector<NamedModule> out;
  collect("", out);
  return out;
}

std::shared_ptr<Module> Module::replace(std::string_view path, std::shared_ptr<Module> replacement) {
  QJIT_CHECK_GEN("module", !path.empty(), "cannot replace the model itself (empty path)");
  QJIT_CHECK_GEN("module", replacement != nullptr, "replacing '{}' with nothing", path);
  const std::size_t dot = path.rfind('.');
  Module& parent = dot == std::string_view::npos ? *this : at(path.substr(0, dot));
  const std::string_view name = dot == std::string_view::npos ? path : path.substr(dot + 1);
  for (Child& c : parent.children_) {
    if (c.name != name) continue;
    QJIT_CHECK_GEN("module", c.accepts(*replacement), "cannot put a {} at '{}': its parent calls it as a {}",
                   replacement->type_name(), path, c.interface_name);
    std::swap(c.module, replacement);
    return replacement;
  }
  at(path);  // throws, naming what exists
  return nullptr;
}

std::size_t Module::add_child(std::string name, std::shared_ptr<Module> child,
                              std::function<bool(const Module&)> accepts, std::string interface_name) {
  QJIT_CHECK_GEN("module", !name.empty() && name.find('.') == std::string::npos,
                 "child name '{}' of a {} must be non-empty and hold no '.'", name, type_name());
  QJIT_CHECK_GEN("module", child != nullptr, "child '{}' of a {} is null", name, type_name());
  QJIT_CHECK_GEN("module", this->child(name) == nullptr, "a {} already has a child '{}'", type_name(), name);
  children_.push_back({std::move(name), std::move(child), std::move(accepts), std::move(interface_name)});
  return children_.size() - 1;
}

std::vector<std::string> Module::path_aliases(std::string_view) const { return {}; }

}  // namespace qjit
