#include "snnconv/core/types.hpp"

namespace snnconv {

TensorType TensorType::of(DType t, const Shape& s) {
  TensorType r;
  r.dtype = t;
  for (auto d : s) r.dims.push_back(Dim::known(d));
  return r;
}

bool TensorType::is_static() const {
  if (!rank_known) return false;
  for (const auto& d : dims)
    if (!d.is_known()) return false;
  return true;
}

Shape TensorType::static_shape() const {
  if (!is_static()) throw ShapeError("shape " + type_to_string(*this) + " is not fully known");
  Shape s;
  s.reserve(dims.size());
  for (const auto& d : dims) s.push_back(d.value);
  return s;
}

std::string type_to_string(const TensorType& t) {
  std::string s(dtype_name(t.dtype));
  if (!t.rank_known) return s + "[*]";
  s += "[";
  for (std::size_t i = 0; i < t.dims.size(); ++i) {
    if (i) s += ",";
    const Dim& d = t.dims[i];
    s += d.is_known() ? std::to_string(d.value) : (d.symbol.empty() ? "?" : d.symbol);
  }
  return s + "]";
}

}  // namespace snnconv
