// Typed errors. Every error a user can trigger carries enough context (file, node, op, value) to find
// the fault, and maps to one documented process exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace snnconv {

// Process exit codes of the snnconv executable (docs/cli.md).
enum class ExitCode : int { ok = 0, runtime_failure = 1, bad_usage = 2, unsupported_model = 3 };

struct ErrorContext {
  std::string file;   // file being read or written
  std::string node;   // graph node name
  std::string op;     // op type
  std::string value;  // value (tensor) name
};

class Error : public std::runtime_error {
public:
  explicit Error(const std::string& message, ErrorContext context = {});
  const ErrorContext& context() const { return context_; }
  // The bare message without the context prefix.
  const std::string& message() const { return message_; }
  virtual ExitCode exit_code() const { return ExitCode::runtime_failure; }

private:
  std::string message_;
  ErrorContext context_;
};

// A file that cannot be parsed: malformed bytes, truncation, contradicting sizes.
class ParseError : public Error {
public:
  using Error::Error;
};

// A graph that breaks an IR rule: dangling input, cycle, wrong arity, wrong stage.
class GraphError : public Error {
public:
  using Error::Error;
};

// Shapes that do not fit together.
class ShapeError : public Error {
public:
  using Error::Error;
};

// Input the product does not support (an op, an opset, a dtype): exit code 3.
class UnsupportedError : public Error {
public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::unsupported_model; }
};

// Bad command-line usage or option values: exit code 2.
class UsageError : public Error {
public:
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::bad_usage; }
};

// A size above a documented limit, refused before allocating.
class LimitError : public Error {
public:
  using Error::Error;
};

// NaN or Inf where finite numbers are required.
class NumericError : public Error {
public:
  using Error::Error;
};

// I/O failure (cannot open, cannot write, cannot rename).
class IoError : public Error {
public:
  using Error::Error;
};

// Formats "message [file F, node N, op O, value V]" with the empty parts left out.
std::string format_error(const std::string& message, const ErrorContext& context);

}  // namespace snnconv
