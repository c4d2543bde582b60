// The synth-code DSL: recursive-descent parser into postfix nodes, wrapping 64-bit evaluation.
#include "snnconv/cascade/dsl.hpp"

namespace snnconv::cascade::dsl {
namespace {

constexpr int kMaxDepth = 256;

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  bool run(Program& out) {
    if (!expr(0)) return false;
    if (pos_ != s_.size()) return false;
    out.nodes = std::move(nodes_);
    return true;
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  bool factor(int depth) {
    const char c = peek();
    if (c == 'x') {
      ++pos_;
      nodes_.push_back({Program::Op::x, 0});
      return true;
    }
    if (c >= '0' && c <= '9') {
      ++pos_;
      nodes_.push_back({Program::Op::lit, c - '0'});
      return true;
    }
    if (c == '(') {
      if (depth >= kMaxDepth) return false;
      ++pos_;
      if (!expr(depth + 1)) return false;
      if (peek() != ')') return false;
      ++pos_;
      return true;
    }
    return false;
  }

  bool term(int depth) {
    if (!factor(depth)) return false;
    while (peek() == '*') {
      ++pos_;
      if (!factor(depth)) return false;
      nodes_.push_back({Program::Op::mul, 0});
    }
    return true;
  }

  bool expr(int depth) {
    if (!term(depth)) return false;
    while (peek() == '+' || peek() == '-') {
      const Program::Op op = peek() == '+' ? Program::Op::add : Program::Op::sub;
      ++pos_;
      if (!term(depth)) return false;
      nodes_.push_back({op, 0});
    }
    return true;
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::vector<Program::Node> nodes_;
};

}  // namespace

std::optional<Program> parse(std::string_view source) {
  Program p;
  Parser parser(source);
  if (!parser.run(p)) return std::nullopt;
  return p;
}

std::int64_t evaluate(const Program& p, std::int64_t x) {
  // Unsigned arithmetic wraps modulo 2^64; the conversion back to int64 is two's complement (C++20).
  std::vector<std::uint64_t> stack;
  stack.reserve(p.nodes.size());
  for (const Program::Node& n : p.nodes) {
    if (n.op == Program::Op::x || n.op == Program::Op::lit) {
      stack.push_back(static_cast<std::uint64_t>(n.op == Program::Op::x ? x : n.value));
      continue;
    }
    const std::uint64_t b = stack.back();
    stack.pop_back();
    std::uint64_t& a = stack.back();
    a = n.op == Program::Op::add ? a + b : n.op == Program::Op::sub ? a - b : a * b;
  }
  return static_cast<std::int64_t>(stack.back());
}

double pass_fraction(std::string_view source, std::span<const std::int64_t> inputs,
                     std::span<const std::int64_t> outputs) {
  const std::optional<Program> p = parse(source);
  if (!p || inputs.empty()) return 0.0;
  std::size_t ok = 0;
  const std::size_t n = std::min(inputs.size(), outputs.size());
  for (std::size_t i = 0; i < n; ++i) ok += evaluate(*p, inputs[i]) == outputs[i] ? 1 : 0;
  return static_cast<double>(ok) / static_cast<double>(inputs.size());
}

bool passes(std::string_view source, std::span<const std::int64_t> inputs, std::span<const std::int64_t> outputs) {
  const std::optional<Program> p = parse(source);
  if (!p) return false;
  const std::size_t n = std::min(inputs.size(), outputs.size());
  for (std::size_t i = 0; i < n; ++i)
    if (evaluate(*p, inputs[i]) != outputs[i]) return false;
  return true;
}

}  // namespace snnconv::cascade::dsl
