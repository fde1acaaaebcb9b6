#pragma once
// A small greedy all-pairs generator for test matrices (DESIGN.md section 8: large grids are
// covered pairwise). Dimensions have a few values each; a validity predicate rules out
// combinations that cannot run. The required pairs are those that appear in at least one
// valid combination; rows are chosen greedily, each the best of a number of random valid
// candidates (one of which is built around a still uncovered pair, so every step makes
// progress), with a fixed seed: the same matrix every run.

#include <cstdint>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

namespace qjit::pairwise {

using Row = std::vector<int>;  // one value index per dimension

struct Pair {
  int d1, v1, d2, v2;  // d1 < d2
  auto operator<=>(const Pair&) const = default;
};

inline std::vector<Pair> pairs_of(const Row& r) {
  std::vector<Pair> out;
  for (int i = 0; i < static_cast<int>(r.size()); ++i) {
    for (int j = i + 1; j < static_cast<int>(r.size()); ++j) out.push_back({i, r[i], j, r[j]});
  }
  return out;
}

// Every combination of `sizes` (the full product), for small products only.
inline std::vector<Row> product(const std::vector<int>& sizes) {
  std::vector<Row> out{{}};
  for (int s : sizes) {
    std::vector<Row> next;
    for (const Row& r : out) {
      for (int v = 0; v < s; ++v) {
        Row x = r;
        x.push_back(v);
        next.push_back(std::move(x));
      }
    }
    out = std::move(next);
  }
  return out;
}

// The matrix is built from independent groups of dimensions (validity is checked within a
// group only, which keeps the enumeration small): `groups` lists, for each group, its valid
// combinations (rows over that group's dimensions); a row of the matrix concatenates one
// combination of each group.
struct Groups {
  std::vector<std::vector<Row>> valid;  // per group: its valid combinations

  int dims() const {
    int d = 0;
    for (const auto& g : valid) d += static_cast<int>(g.front().size());
    return d;
  }
  // Pairs that some row can hold: inside a group, those of its valid combinations; across
  // groups, any value used by a valid combination of one with any of the other.
  std::set<Pair> required() const {
    std::set<Pair> req;
    std::vector<std::vector<std::set<int>>> used(valid.size());  // group -> dim -> values
    int offset = 0;
    std::vector<int> offsets;
    for (size_t g = 0; g < valid.size(); ++g) {
      offsets.push_back(offset);
      const int n = static_cast<int>(valid[g].front().size());
      used[g].resize(static_cast<size_t>(n));
      for (const Row& r : valid[g]) {
        for (const Pair& p : pairs_of(r)) req.insert({p.d1 + offset, p.v1, p.d2 + offset, p.v2});
        for (int d = 0; d < n; ++d) used[g][static_cast<size_t>(d)].insert(r[static_cast<size_t>(d)]);
      }
      offset += n;
    }
    for (size_t g1 = 0; g1 < valid.size(); ++g1) {
      for (size_t g2 = g1 + 1; g2 < valid.size(); ++g2) {
        for (size_t a = 0; a < used[g1].size(); ++a) {
          for (size_t b = 0; b < used[g2].size(); ++b) {
            for (int v1 : used[g1][a]) {
              for (int v2 : used[g2][b]) {
                req.insert({offsets[g1] + static_cast<int>(a), v1, offsets[g2] + static_cast<int>(b), v2});
              }
            }
          }
        }
      }
    }
    return req;
  }
};

// Greedy all-pairs rows over the groups. Deterministic for a seed.
inline std::vector<Row> generate(const Groups& groups, std::uint32_t seed, int candidates = 64) {
  std::mt19937 rng(seed);
  std::set<Pair> uncovered = groups.required();
  std::vector<int> offsets;
  int offset = 0;
  for (const auto& g : groups.valid) offsets.push_back(offset), offset += static_cast<int>(g.front().size());
  auto group_of = [&](int d) {
    size_t g = 0;
    while (g + 1 < offsets.size() && offsets[g + 1] <= d) ++g;
    return g;
  };
  auto random_row = [&](const Pair* must) {
    Row row;
    for (size_t g = 0; g < groups.valid.size(); ++g) {
      const auto& combos = groups.valid[g];
      // The combinations of this group that agree with `must` on its dimensions.
      std::vector<const Row*> fit;
      for (const Row& c : combos) {
        bool ok = true;
        if (must) {
          for (auto [d, v] : {std::pair{must->d1, must->v1}, std::pair{must->d2, must->v2}}) {
            if (group_of(d) == g && c[static_cast<size_t>(d - offsets[g])] != v) ok = false;
          }
        }
        if (ok) fit.push_back(&c);
      }
      const Row& pick = *fit[std::uniform_int_distribution<size_t>(0, fit.size() - 1)(rng)];
      row.insert(row.end(), pick.begin(), pick.end());
    }
    return row;
  };
  auto gain = [&](const Row& r) {
    int n = 0;
    for (const Pair& p : pairs_of(r)) n += uncovered.count(p) ? 1 : 0;
    return n;
  };
  std::vector<Row> rows;
  while (!uncovered.empty()) {
    const Pair first = *uncovered.begin();
    Row best = random_row(&first);
    int best_gain = gain(best);
    for (int c = 0; c < candidates; ++c) {
      // Half the candidates keep a random uncovered pair, half are free.
      auto it = uncovered.begin();
      std::advance(it, std::uniform_int_distribution<size_t>(0, uncovered.size() - 1)(rng));
      const Pair keep = *it;
      Row r = random_row(c % 2 ? &keep : nullptr);
      const int g = gain(r);
      if (g > best_gain) best = std::move(r), best_gain = g;
    }
    for (const Pair& p : pairs_of(best)) uncovered.erase(p);
    rows.push_back(std::move(best));
  }
  return rows;
}

// The required pairs no row holds (empty: the rows cover all pairs).
inline std::vector<Pair> missing_pairs(const Groups& groups, const std::vector<Row>& rows) {
  std::set<Pair> left = groups.required();
  for (const Row& r : rows) {
    for (const Pair& p : pairs_of(r)) left.erase(p);
  }
  return {left.begin(), left.end()};
}

}  // namespace qjit::pairwise
