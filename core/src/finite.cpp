#include "snnconv/core/finite.hpp"

#include <fmt/format.h>

#include <cmath>

namespace snnconv {

std::optional<NonFinite> first_non_finite(std::span<const float> values) {
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i])) return NonFinite{static_cast<std::int64_t>(i), values[i]};
  return std::nullopt;
}

namespace {

// "[1, 2]" for flat index 6 of shape [2, 4]; "[6]" for an empty shape.
std::string multi_index(std::int64_t flat, const Shape& shape) {
  if (shape.empty()) return fmt::format("[{}]", flat);
  std::vector<std::int64_t> idx(shape.size());
  for (std::size_t d = shape.size(); d-- > 0;) {
    const std::int64_t n = std::max<std::int64_t>(shape[d], 1);
    idx[d] = flat % n;
    flat /= n;
  }
  std::string s = "[";
  for (std::size_t d = 0; d < idx.size(); ++d) s += fmt::format("{}{}", d ? ", " : "", idx[d]);
  return s + "]";
}

std::string value_name(float v) {
  if (std::isnan(v)) return "nan";
  return v > 0 ? "+inf" : "-inf";
}

}  // namespace

void require_finite_output(std::span<const float> values, const Shape& shape, const OutputSite& site,
                           const ErrorContext& context) {
  const std::optional<NonFinite> bad = first_non_finite(values);
  if (!bad) return;
  std::int64_t count = 0;
  for (float v : values) count += std::isfinite(v) ? 0 : 1;
  std::string msg = fmt::format("model output{} of {} is {} at {}", site.output.empty() ? "" : " '" + site.output + "'",
                                site.item, value_name(bad->value), multi_index(bad->index, shape));
  if (count > 1) msg += fmt::format(" ({} of its {} values are not finite)", count, values.size());
  msg += ": a metric of a non-finite output is undefined";
  if (!site.hint.empty()) msg += "; " + site.hint;
  ErrorContext c = context;
  if (c.value.empty()) c.value = site.output;
  throw NumericError(msg, c);
}

void require_finite_rows(const Tensor& values, std::int64_t first_item, const std::string& output,
                         const std::string& item_kind, const std::string& split, const std::string& hint,
                         const ErrorContext& context) {
  if (values.dtype() != DType::f32) throw Error("require_finite_rows: expects f32 values");
  const std::int64_t rows = values.rank() == 0 ? 1 : values.dim(0);
  if (rows == 0) return;
  const std::int64_t per = values.numel() / rows;
  const Shape row_shape = values.rank() <= 1 ? Shape{} : Shape(values.shape().begin() + 1, values.shape().end());
  const std::span<const float> all(values.data<float>(), static_cast<std::size_t>(values.numel()));
  if (!first_non_finite(all)) return;  // the common case: one pass
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::string item = split.empty() ? fmt::format("{} {}", item_kind, first_item + r)
                                           : fmt::format("{} {} of split '{}'", item_kind, first_item + r, split);
    require_finite_output(all.subspan(static_cast<std::size_t>(r * per), static_cast<std::size_t>(per)), row_shape,
                          OutputSite{output, item, hint}, context);
  }
}

}  // namespace snnconv
