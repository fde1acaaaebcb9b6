// The module tree: dotted paths, pre-order listing, typed slots that follow replace(), and
// the errors a wrong path or an incompatible replacement gives.

#include "runtime/module.hpp"

#include <gtest/gtest.h>

#include "common/error.hpp"

namespace qjit {
namespace {

// A leaf that computes something callers can see through a slot.
class Scale : public Module {
 public:
  explicit Scale(int factor) : factor_(factor) {}
  std::string type_name() const override { return "Scale"; }
  virtual int apply(int x) const { return x * factor_; }

 private:
  int factor_;
};

class Offset final : public Scale {
 public:
  Offset() : Scale(1) {}
  std::string type_name() const override { return "Offset"; }
  int apply(int x) const override { return x + 100; }
};

class Other final : public Module {
 public:
  std::string type_name() const override { return "Other"; }
};

// blocks.{0,1}.{a,b}: each block applies a then b.
class Block final : public Module {
 public:
  explicit Block(int f) : a_(add<Scale>("a", std::make_shared<Scale>(f))), b_(add<Scale>("b", std::make_shared<Scale>(2))) {}
  std::string type_name() const override { return "Block"; }
  int forward(int x) const { return b_->apply(a_->apply(x)); }

 private:
  Slot<Scale> a_, b_;
};

class Model final : public Module {
 public:
  Model() : blocks_(add<ModuleList<Block>>("blocks", std::make_shared<ModuleList<Block>>())) {
    blocks_->push_back(std::make_shared<Block>(3));
    blocks_->push_back(std::make_shared<Block>(5));
  }
  std::string type_name() const override { return "Model"; }
  int forward(int x) const {
    for (std::size_t i = 0; i < blocks_->size(); ++i) x = (*blocks_)[i].forward(x);
    return x;
  }

 private:
  Slot<ModuleList<Block>> blocks_;
};

TEST(Module, ListsEveryModulePreOrderWithDottedPaths) {
  Model m;
  std::vector<std::string> paths;
  for (const NamedModule& nm : m.named_modules()) paths.push_back(nm.path + ":" + nm.module->type_name());
  EXPECT_EQ(paths, (std::vector<std::string>{"blocks:ModuleList", "blocks.0:Block", "blocks.0.a:Scale",
                                             "blocks.0.b:Scale", "blocks.1:Block", "blocks.1.a:Scale",
                                             "blocks.1.b:Scale"}));
  EXPECT_EQ(m.modules_of_type<Scale>().size(), 4u);
  EXPECT_EQ(&m.at("blocks.1.a"), m.at("blocks.1").child("a"));
  EXPECT_EQ(&m.at(""), &m);
  EXPECT_TRUE(m.contains("blocks.0.b"));
  EXPECT_FALSE(m.contains("blocks.2"));
  EXPECT_FALSE(m.contains("blocks.0.b.c"));
}

TEST(Module, ReplacementIsWhatTheParentCallsNext) {
  Model m;
  EXPECT_EQ(m.forward(1), 1 * 3 * 2 * 5 * 2);
  const std::shared_ptr<Module> old = m.replace("blocks.0.a", std::make_shared<Offset>());
  EXPECT_EQ(old->type_name(), "Scale");
  EXPECT_EQ(m.at("blocks.0.a").type_name(), "Offset");
  EXPECT_EQ(m.forward(1), (1 + 100) * 2 * 5 * 2);
}

TEST(Module, ErrorsNameThePathAndWhatExists) {
  Model m;
  try {
    m.at("blocks.0.c");
    FAIL() << "no throw";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("blocks.0.c"), std::string::npos) << what;
    EXPECT_NE(what.find("a, b"), std::string::npos) << what;
  }
  try {
    m.replace("blocks.1.b", std::make_shared<Other>());
    FAIL() << "no throw";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("Other"), std::string::npos) << what;
    EXPECT_NE(what.find("blocks.1.b"), std::string::npos) << what;
    EXPECT_NE(what.find("Scale"), std::string::npos) << what;
  }
  EXPECT_EQ(m.at("blocks.1.b").type_name(), "Scale");  // nothing was lost
  EXPECT_THROW(m.replace("blocks.9", std::make_shared<Block>(1)), Error);
  EXPECT_THROW(m.replace("", std::make_shared<Block>(1)), Error);
}

class BadNames final : public Module {
 public:
  explicit BadNames(const std::string& name) {
    add<Other>("x", std::make_shared<Other>());
    add<Other>(name, std::make_shared<Other>());
  }
  std::string type_name() const override { return "BadNames"; }
};

TEST(Module, ChildNamesAreUniqueNonEmptyAndDotFree) {
  EXPECT_THROW(BadNames("x"), Error);
  EXPECT_THROW(BadNames(""), Error);
  EXPECT_THROW(BadNames("a.b"), Error);
  EXPECT_NO_THROW(BadNames("y"));
}

}  // namespace
}  // namespace qjit
