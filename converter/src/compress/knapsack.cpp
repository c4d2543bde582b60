// Bit allocation as a multiple-choice knapsack, and the cost file (mixed_precision.hpp, docs/compression.md).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>

#include "snnconv/converter/mixed_precision.hpp"
#include "snnconv/core/error.hpp"

namespace snnconv {

KnapsackSolution solve_knapsack(const std::vector<KnapsackItem>& items, double budget, const std::string& what,
                                std::int64_t max_cells) {
  KnapsackSolution sol;
  if (items.empty()) return sol;
  double min_total = 0.0;
  bool integral = true;
  std::int64_t g = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const KnapsackItem& it = items[i];
    if (it.cost.empty() || it.cost.size() != it.value.size() || it.cost.size() > 127)
      throw UsageError(fmt::format("{}: item {} has {} costs and {} values", what, i, it.cost.size(), it.value.size()));
    double lo = std::numeric_limits<double>::infinity();
    for (double c : it.cost) {
      if (!(c >= 0.0) || !std::isfinite(c)) throw UsageError(fmt::format("{}: item {} has a cost {}", what, i, c));
      lo = std::min(lo, c);
      const double r = std::round(c);
      if (std::abs(c - r) > 1e-9 * std::max(1.0, c) || r > 9e15) integral = false;
      else g = std::gcd(g, static_cast<std::int64_t>(r));
    }
    min_total += lo;
  }
  if (min_total > budget * (1.0 + 1e-12) + 1e-9)
    throw UsageError(fmt::format("{}: the budget {} is below the smallest possible cost {} (every unit at its fewest "
                                 "bits): no allocation meets it",
                                 what, budget, min_total));
  // Costs in grid cells.
  std::int64_t cap = 0;
  double step = 1.0;
  if (integral && g > 0 && std::floor(budget / static_cast<double>(g) + 1e-9) <= static_cast<double>(max_cells)) {
    step = static_cast<double>(g);
    cap = static_cast<std::int64_t>(std::floor(budget / step + 1e-9));
  } else if (integral && g == 0) {  // every cost is zero
    cap = 0;
  } else {
    sol.exact = false;
    step = budget / static_cast<double>(max_cells);
    cap = max_cells;
  }
  const auto cells = [&](double c) -> std::int64_t {
    if (c == 0.0) return 0;
    return sol.exact ? static_cast<std::int64_t>(std::llround(c / step))
                     : static_cast<std::int64_t>(std::ceil(c / step - 1e-9));
  };
  sol.grid_cells = cap;
  const std::size_t n = items.size(), width = static_cast<std::size_t>(cap) + 1;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  std::vector<double> f(width, kInf), next(width);
  f[0] = 0.0;
  std::vector<std::int8_t> choice(n * width, -1);
  for (std::size_t i = 0; i < n; ++i) {
    std::fill(next.begin(), next.end(), kInf);
    const KnapsackItem& it = items[i];
    for (std::size_t j = 0; j < it.cost.size(); ++j) {
      const std::int64_t cj = cells(it.cost[j]);
      if (cj > cap) continue;
      for (std::size_t c = static_cast<std::size_t>(cj); c < width; ++c) {
        const double prev = f[c - static_cast<std::size_t>(cj)];
        if (prev == kInf) continue;
        const double v = prev + it.value[j];
        if (v < next[c]) {  // strict: equal values keep the lower option index
          next[c] = v;
          choice[i * width + c] = static_cast<std::int8_t>(j);
        }
      }
    }
    f.swap(next);
  }
  std::size_t best = width;
  for (std::size_t c = 0; c < width; ++c)
    if (f[c] != kInf && (best == width || f[c] < f[best])) best = c;  // ties: the smaller cost
  if (best == width)  // only possible when rounding up to the grid made the cheapest allocation infeasible
    throw UsageError(fmt::format("{}: the budget {} is too tight for the cost grid ({} cells)", what, budget, cap));
  sol.choice.assign(n, 0);
  std::size_t c = best;
  for (std::size_t i = n; i-- > 0;) {
    const int j = choice[i * width + c];
    sol.choice[i] = j;
    c -= static_cast<std::size_t>(cells(items[i].cost[static_cast<std::size_t>(j)]));
  }
  for (std::size_t i = 0; i < n; ++i) {
    sol.cost += items[i].cost[static_cast<std::size_t>(sol.choice[i])];
    sol.value += items[i].value[static_cast<std::size_t>(sol.choice[i])];
  }
  return sol;
}

CostTable read_cost_file(const std::string& path, const std::vector<PrecisionUnit>& tensors, const std::vector<int>& bits) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot open the cost file", {path, "", "", ""});
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw UsageError(std::string("the cost file is not JSON: ") + e.what(), {path, "", "", ""});
  }
  CostTable t;
  if (!j.is_object() || !j.contains("budget") || !j["budget"].is_number())
    throw UsageError("the cost file has no numeric \"budget\"", {path, "", "", ""});
  t.budget = j["budget"].get<double>();
  if (!(t.budget >= 0.0)) throw UsageError(fmt::format("the cost file's budget {} is negative", t.budget), {path, "", "", ""});
  std::map<std::string, const PrecisionUnit*> by_name;
  for (const PrecisionUnit& u : tensors) by_name[u.name] = &u;
  for (const PrecisionUnit& u : tensors)
    for (int b : bits) t.cost[u.name][b] = static_cast<double>(u.params) * b;
  if (!j.contains("costs")) return t;
  if (!j["costs"].is_object()) throw UsageError("the cost file's \"costs\" is not an object", {path, "", "", ""});
  for (const auto& [name, entry] : j["costs"].items()) {
    const auto it = by_name.find(name);
    if (it == by_name.end())
      throw UsageError("cost file entry '" + name + "': the model has no Linear of that name", {path, "", "", ""});
    auto& row = t.cost[name];
    if (entry.is_number()) {
      const double per = entry.get<double>();
      if (!(per >= 0.0)) throw UsageError(fmt::format("cost file entry '{}': cost {} is negative", name, per), {path, "", "", ""});
      for (int b : bits) row[b] = per * static_cast<double>(it->second->params) * b;
    } else if (entry.is_object()) {
      for (int b : bits) {
        const std::string key = std::to_string(b);
        if (!entry.contains(key) || !entry[key].is_number())
          throw UsageError(fmt::format("cost file entry '{}' has no cost for {} bits", name, b), {path, "", "", ""});
        const double c = entry[key].get<double>();
        if (!(c >= 0.0)) throw UsageError(fmt::format("cost file entry '{}': cost {} is negative", name, c), {path, "", "", ""});
        row[b] = c;
      }
    } else {
      throw UsageError("cost file entry '" + name + "' is neither a number nor an object", {path, "", "", ""});
    }
  }
  return t;
}

}  // namespace snnconv
