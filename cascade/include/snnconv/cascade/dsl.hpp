// The synth-code DSL (docs/models.md, "synth-code DSL"; reference: examples/synth_code/dsl.py): a parser and
// evaluator for the execution self-test of code-generating cascades.
//
//     expr   := term   { ('+' | '-') term }      left-associative
//     term   := factor { '*' factor }            left-associative
//     factor := 'x' | digit | '(' expr ')'
//
// Values are 64-bit two's-complement integers; + - * wrap modulo 2^64 (as dsl.py's wrap()).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace snnconv::cascade::dsl {

// A parsed program: nodes in postfix order (children before parents), evaluated with a small stack.
struct Program {
  enum class Op : std::uint8_t { x, lit, add, sub, mul };
  struct Node {
    Op op = Op::x;
    std::int64_t value = 0;  // lit only
  };
  std::vector<Node> nodes;
};

// nullopt when `source` is not a complete expression of the grammar (no whitespace, no trailing bytes,
// single-digit literals, no unary minus), exactly where dsl.parse raises ParseError. Nesting deeper than
// 256 parentheses is refused too (the model's window is 64 bytes, so no real candidate comes near).
std::optional<Program> parse(std::string_view source);

std::int64_t evaluate(const Program& p, std::int64_t x);

// dsl.passes: parses and gives every expected output (false when it does not parse).
bool passes(std::string_view source, std::span<const std::int64_t> inputs, std::span<const std::int64_t> outputs);

// Fraction of the (input, output) pairs the program reproduces, in [0, 1]; 0 when it does not parse.
double pass_fraction(std::string_view source, std::span<const std::int64_t> inputs,
                     std::span<const std::int64_t> outputs);

}  // namespace snnconv::cascade::dsl
