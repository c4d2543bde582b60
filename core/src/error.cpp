#include "snnconv/core/error.hpp"

namespace snnconv {

std::string format_error(const std::string& message, const ErrorContext& c) {
  std::string where;
  auto add = [&](const char* key, const std::string& v) {
    if (v.empty()) return;
    if (!where.empty()) where += ", ";
    where += key;
    where += " '";
    where += v;
    where += "'";
  };
  add("file", c.file);
  add("node", c.node);
  add("op", c.op);
  add("value", c.value);
  return where.empty() ? message : message + " [" + where + "]";
}

Error::Error(const std::string& message, ErrorContext context)
    : std::runtime_error(format_error(message, context)), message_(message), context_(std::move(context)) {}

}  // namespace snnconv
