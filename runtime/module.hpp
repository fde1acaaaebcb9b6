#pragma once
// The module tree a model is made of (DESIGN.md section 6): modules with named children,
// addressed by dotted paths as PyTorch names them ("blocks.3.self_attn.q", "ffn.0"). A
// module reaches its children through typed slots that read the tree at call time, so
// replacing a child (what Rule::apply does to put QuantLinear in place of Linear) changes what
// the parent calls without the parent knowing the new type.

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

namespace qjit {

class Module;

/// A module and its dotted path below the module it was listed from.
struct NamedModule {
  std::string path;
  Module* module = nullptr;
};

class Module {
 public:
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  /// What the module is, for listings and messages: "Linear", "QuantLinear", "WanBlock".
  virtual std::string type_name() const = 0;

  struct Child {
    std::string name;
    std::shared_ptr<Module> module;
    // What a replacement must be (the slot's interface): checked by replace().
    std::function<bool(const Module&)> accepts;
    std::string interface_name;
  };
  /// Direct children, in registration order.
  const std::vector<Child>& children() const { return children_; }
  /// The direct child called `name`, or null.
  Module* child(std::string_view name) const;

  /// The module at a dotted path below this one ("" is this module). Throws qjit::Error
  /// naming the first segment that does not exist and what exists there.
  Module& at(std::string_view path);
  /// The owning handle of the module at a non-empty dotted path (what replace() returns for
  /// it), for callers that wrap a layer and put it back. Throws as at() does.
  std::shared_ptr<Module> shared_at(std::string_view path);
  /// Whether `path` names a module below this one.
  bool contains(std::string_view path) const;
  /// Every module below this one, pre-order (a parent before its children, children in
  /// registration order), with dotted paths. This module itself is not listed.
  std::vector<NamedModule> named_modules();
  /// The modules of type M (dynamic type) below this one, pre-order.
  template <typename M>
  std::vector<std::pair<std::string, M*>> modules_of_type() {
    std::vector<std::pair<std::string, M*>> out;
    for (const NamedModule& nm : named_modules()) {
      if (auto* m = dynamic_cast<M*>(nm.module)) out.emplace_back(nm.path, m);
    }
    return out;
  }

  /// Other names of the module at `path` below this one, in another naming scheme of the same
  /// model (the Wan model answers diffusers' names: "blocks.0.attn1.to_q" for
  /// "blocks.0.self_attn.q"); none by default. Rules and configs match a path or its aliases.
  virtual std::vector<std::string> path_aliases(std::string_view path) const;

  /// Puts `replacement` at `path` (which must exist) and returns the module it replaces.
  /// Throws qjit::Error naming the path when it does not exist or when the replacement
  /// does not implement the interface the parent calls there (e.g. LinearLayer).
  std::shared_ptr<Module> replace(std::string_view path, std::shared_ptr<Module> replacement);

 protected:
  Module() = default;

  /// A typed handle on one child: what a parent calls. It reads the tree at each use, so it
  /// follows replace().
  template <typename I>
  class Slot {
   public:
    Slot() = default;
    I& operator*() const { return *get(); }
    I* operator->() const { return get(); }
    I* get() const {
      // NOTE: replace() admits only modules that are an I, so the cast cannot fail.
      return owner_ == nullptr ? nullptr : dynamic_cast<I*>(owner_->children_[index_].module.get());
    }
    explicit operator bool() const { return owner_ != nullptr; }

   private:
    friend class Module;
    Slot(const Module* owner, std::size_t index) : owner_(owner), index_(index) {}
    const Module* owner_ = nullptr;
    std::size_t index_ = 0;
  };

  /// Registers `child` as `name` (unique among the children, non-empty, no '.') and returns
  /// the slot the parent calls it through; replacements must be an I too.
  template <typename I>
  Slot<I> add(std::string name, std::shared_ptr<I> child) {
    std::shared_ptr<Module> m = std::move(child);
    const std::size_t index = add_child(std::move(name), std::move(m),
                                        [](const Module& c) { return dynamic_cast<const I*>(&c) != nullptr; },
                                        readable_type_name(typeid(I)));
    return Slot<I>(this, index);
  }

 private:
  static std::string readable_type_name(const std::type_info& t);  // demangled, without "qjit::"
  std::size_t add_child(std::string name, std::shared_ptr<Module> child, std::function<bool(const Module&)> accepts,
                        std::string interface_name);
  void collect(const std::string& prefix, std::vector<NamedModule>& out);

  std::vector<Child> children_;
};

/// Children named "0", "1", ... (PyTorch's ModuleList / Sequential naming), all of type I.
template <typename I>
class ModuleList final : public Module {
 public:
  std::string type_name() const override { return "ModuleList"; }
  I& push_back(std::shared_ptr<I> m) {
    slots_.push_back(add<I>(std::to_string(slots_.size()), std::move(m)));
    return *slots_.back();
  }
  std::size_t size() const { return slots_.size(); }
  I& operator[](std::size_t i) const { return *slots_.at(i); }

 private:
  std::vector<Slot<I>> slots_;
};

}  // namespace qjit
