// Calibration of a QANN skeleton: float passes over the calibration samples, statistics per quantization point
// (quantize.hpp, docs/compression.md). A run is cut into parts of consecutive samples, each part gathered on its
// own (a thread, or a data-parallel rank) and the parts merged in sample order, which gives the statistics of one
// pass over all samples bit for bit: min and max are order-free, and every kept value is chosen by its position
// in the whole run, not in its part.
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <map>
#include <optional>

#include "quantize_detail.hpp"
#include "snnconv/ann_baseline/reference.hpp"
#include "snnconv/converter/quantize.hpp"

namespace snnconv {

namespace {

// Values of a point per sample (the graph is bound to static shapes).
std::int64_t point_numel(const Graph& g, const std::string& name) {
  std::int64_t n = 1;
  for (const Dim& d : g.value(g.find_value(name)).type.dims) n *= d.value;
  return n;
}

// The smallest and largest value of a sample's point and whether every value is finite, eight lanes at a time
// (AVX2 is the build's baseline); within each lane the same comparisons as one sequential pass.
struct ValueRange {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
  bool finite = true;
};

ValueRange value_range(std::span<const float> f) {
  constexpr std::size_t kLanes = 8;
  const __m256 largest = _mm256_set1_ps(std::numeric_limits<float>::max());
  const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  __m256 lo = _mm256_set1_ps(std::numeric_limits<float>::infinity());
  __m256 hi = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  __m256 ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
  const std::size_t whole = f.size() / kLanes * kLanes;
  for (std::size_t i = 0; i < whole; i += kLanes) {
    const __m256 a = _mm256_loadu_ps(f.data() + i);
    lo = _mm256_min_ps(a, lo);  // a < lo ? a : lo
    hi = _mm256_max_ps(a, hi);  // a > hi ? a : hi
    ok = _mm256_and_ps(ok, _mm256_cmp_ps(_mm256_and_ps(a, magnitude), largest, _CMP_LE_OQ));  // NaN, Inf: false
  }
  alignas(32) float los[kLanes], his[kLanes];
  _mm256_store_ps(los, lo);
  _mm256_store_ps(his, hi);
  ValueRange r;
  r.finite = _mm256_movemask_ps(ok) == 0xff;
  for (std::size_t j = 0; j < kLanes; ++j) {
    r.lo = los[j] < r.lo ? los[j] : r.lo;
    r.hi = his[j] > r.hi ? his[j] : r.hi;
  }
  for (std::size_t i = whole; i < f.size(); ++i) {
    const float a = f[i];
    r.lo = a < r.lo ? a : r.lo;
    r.hi = a > r.hi ? a : r.hi;
    r.finite = r.finite && std::isfinite(a);
  }
  return r;
}

float first_equal(std::span<const float> f, float v) {
  for (float a : f)
    if (a == v) return a;
  return v;
}

}  // namespace

Calibration calibrate_part(const QannSkeleton& sk, std::span<const std::vector<Tensor>> samples, std::int64_t first,
                           std::int64_t total, const QuantizeOptions& o) {
  check_quantize_options(o);
  const Graph& g = sk.graph;
  if (first < 0 || first + static_cast<std::int64_t>(samples.size()) > total)
    throw UsageError("calibration: samples [" + std::to_string(first) + ", " +
                     std::to_string(first + static_cast<std::int64_t>(samples.size())) + ") lie outside a run of " +
                     std::to_string(total));
  Calibration cal;
  struct Point {
    std::string name;
    std::int64_t numel = 0, stride = 1;
  };
  std::map<std::uint32_t, Point> point_of_node;
  for (const QuantPoint& p : sk.points) {
    const ValueId v = g.find_value(p.name);
    PointStats& st = cal.points[p.name];
    st.min = std::numeric_limits<float>::infinity();
    st.max = -std::numeric_limits<float>::infinity();
    Point& pt = point_of_node[g.value(v).producer.index];
    pt.name = p.name;
    pt.numel = point_numel(g, p.name);
    // Subsampling stride so that at most max_values values are kept over the whole run.
    pt.stride = std::max<std::int64_t>(1, (pt.numel * total + o.max_values - 1) / o.max_values);
    // The values this part keeps: the multiples of the stride among its run positions [a, b). Sized once, so the
    // kept values are not regrown (a copy and fresh pages at every doubling).
    const std::int64_t a = first * pt.numel, b = (first + static_cast<std::int64_t>(samples.size())) * pt.numel;
    const auto kept = static_cast<std::size_t>((b + pt.stride - 1) / pt.stride - (a + pt.stride - 1) / pt.stride);
    st.values.reserve(kept);
  }
  const std::vector<NodeId> order = g.topological_order();
  // Each value is released after the last node that reads it (its place in `order`), so a sample's pass holds
  // only its live values: less memory, and freed blocks are reused rather than fresh pages faulted in.
  std::vector<std::size_t> last_use(g.num_values(), 0);
  for (std::size_t k = 0; k < order.size(); ++k)
    for (ValueId v : g.node(order[k]).inputs)
      if (v.valid()) last_use[v.index] = k;
  std::vector<bool> keep(g.num_values(), false);  // graph inputs and outputs stay to the end of the sample
  for (ValueId v : g.inputs()) keep[v.index] = true;
  for (ValueId v : g.outputs()) keep[v.index] = true;
  for (std::size_t j = 0; j < samples.size(); ++j) {
    const std::int64_t si = first + static_cast<std::int64_t>(j);  // the sample's place in the whole run
    const std::vector<Tensor>& in = samples[j];
    if (in.size() != g.inputs().size())
      throw ShapeError("calibration sample " + std::to_string(si) + " has " + std::to_string(in.size()) +
                       " inputs; the model has " + std::to_string(g.inputs().size()));
    std::vector<std::optional<Tensor>> vals(g.num_values());
    for (std::size_t i = 0; i < in.size(); ++i) {
      const Value& v = g.value(g.inputs()[i]);
      if (in[i].dtype() != v.type.dtype || in[i].shape() != v.type.static_shape())
        throw ShapeError("calibration sample " + std::to_string(si) + ": input '" + v.name + "' is " +
                         std::string(dtype_name(in[i].dtype())) + shape_to_string(in[i].shape()) + ", the model wants " +
                         type_to_string(v.type));
      vals[g.inputs()[i].index] = in[i];
    }
    auto release_inputs = [&](const Node& n, std::size_t k) {
      for (ValueId v : n.inputs)
        if (v.valid() && !keep[v.index] && last_use[v.index] == k) vals[v.index].reset();
    };
    for (std::size_t k = 0; k < order.size(); ++k) {
      const NodeId id = order[k];
      const Node& n = g.node(id);
      const auto point = point_of_node.find(id.index);
      if (n.kind == OpKind::FakeQuant && point == point_of_node.end()) {
        // A point of a QDQ file: it keeps the file's step, so the float run applies it as the model does.
        const Tensor* x = &*vals[n.inputs[0].index];
        vals[n.outputs[0].index] = std::move(ann::evaluate_reference(g, id, std::span<const Tensor* const>(&x, 1)).at(0));
        release_inputs(n, k);
        continue;
      }
      if (n.kind == OpKind::FakeQuant) {  // identity in float; record what it reads
        const Tensor& x = *vals[n.inputs[0].index];
        const Point& pt = point->second;
        PointStats& st = cal.points.at(pt.name);
        std::vector<float> converted;  // only for a point that does not hold f32
        if (x.dtype() != DType::f32) converted = x.to_f32();
        const std::span<const float> f = x.dtype() == DType::f32 ? x.span<float>() : std::span<const float>(converted);
        if (static_cast<std::int64_t>(f.size()) != pt.numel)
          throw Error("calibration: quantization point '" + pt.name + "' holds " + std::to_string(f.size()) +
                          " values for sample " + std::to_string(si) + ", its type says " + std::to_string(pt.numel),
                      g.context(id));
        // Position of this sample's first value in the whole run: every sample holds numel values here.
        const std::int64_t base = si * pt.numel;
        const ValueRange r = value_range(f);
        for (std::size_t i = 0; !r.finite && i < f.size(); ++i) {
          const float a = f[i];
          if (!std::isfinite(a))
            throw NumericError("calibration: a non-finite value (" + std::to_string(a) + ") reaches quantization point '" +
                                   pt.name + "' (sample " + std::to_string(si) + ", reading '" +
                                   g.value(n.inputs[0]).name +
                                   "'); an attention mask of -inf must only feed a softmax: check that `snnconv inspect "
                                   "--fused` shows the attention fused",
                               g.context(id));
        }
        // What one sequential pass of std::min / std::max would leave: the first value equal to the extreme (only
        // a zero's sign can differ between equal values).
        if (r.lo < st.min) st.min = r.lo == 0.0f ? first_equal(f, r.lo) : r.lo;
        if (r.hi > st.max) st.max = r.hi == 0.0f ? first_equal(f, r.hi) : r.hi;
        // The kept values: the run positions base + i that are multiples of the stride, in order.
        for (std::int64_t i = (pt.stride - base % pt.stride) % pt.stride; i < pt.numel; i += pt.stride)
          st.values.push_back(f[static_cast<std::size_t>(i)]);
        st.seen += static_cast<std::int64_t>(f.size());
        // Identity in float: the output takes the input's bytes when nothing else reads the input.
        const ValueId in = n.inputs[0];
        if (!keep[in.index] && last_use[in.index] == k) vals[n.outputs[0].index] = std::move(vals[in.index]);
        else vals[n.outputs[0].index] = x;
        release_inputs(n, k);
        continue;
      }
      std::vector<const Tensor*> ptrs;
      for (ValueId v : n.inputs) {
        if (!v.valid()) ptrs.push_back(nullptr);
        else if (g.value(v).constant) ptrs.push_back(&*g.value(v).constant);
        else ptrs.push_back(&*vals[v.index]);
      }
      std::vector<Tensor> outs = ann::evaluate_reference(g, id, ptrs);
      for (std::size_t o = 0; o < outs.size() && o < n.outputs.size(); ++o) vals[n.outputs[o].index] = std::move(outs[o]);
      release_inputs(n, k);
    }
    ++cal.samples;
  }
  return cal;
}

void merge_calibration(Calibration& into, Calibration&& next) {
  for (auto& [name, st] : next.points) {
    const auto it = into.points.find(name);
    if (it == into.points.end()) {
      into.points.emplace(name, std::move(st));
      continue;
    }
    PointStats& a = it->second;
    a.min = std::min(a.min, st.min);
    a.max = std::max(a.max, st.max);
    a.values.insert(a.values.end(), st.values.begin(), st.values.end());
    a.seen += st.seen;
  }
  into.samples += next.samples;
}

Calibration calibrate(const QannSkeleton& sk, std::span<const std::vector<Tensor>> samples, const QuantizeOptions& o) {
  check_quantize_options(o);
  if (samples.empty() && !sk.points.empty()) throw UsageError("calibration needs at least one sample");
  return calibrate_range(sk, samples, 0, static_cast<std::int64_t>(samples.size()), o);
}

Calibration calibrate_range(const QannSkeleton& sk, std::span<const std::vector<Tensor>> run, std::int64_t begin,
                            std::int64_t end, const QuantizeOptions& o) {
  check_quantize_options(o);
  const auto total = static_cast<std::int64_t>(run.size());
  if (begin < 0 || begin > end || end > total)
    throw UsageError("calibration: samples [" + std::to_string(begin) + ", " + std::to_string(end) +
                     ") lie outside a run of " + std::to_string(total));
  tbb::task_arena arena(o.threads > 0 ? o.threads : tbb::task_arena::automatic);
  const std::int64_t parts = std::min<std::int64_t>(end - begin, arena.max_concurrency());
  auto lo = [&](std::int64_t p) { return begin + (end - begin) * p / parts; };
  auto part_of = [&](std::int64_t p) {
    return calibrate_part(sk, run.subspan(static_cast<std::size_t>(lo(p)), static_cast<std::size_t>(lo(p + 1) - lo(p))),
                          lo(p), total, o);
  };
  if (parts <= 1 || sk.points.empty())
    return calibrate_part(sk, run.subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(end - begin)), begin,
                          total, o);
  std::vector<Calibration> part(static_cast<std::size_t>(parts));
  std::vector<std::exception_ptr> failed(static_cast<std::size_t>(parts));
  arena.execute([&] {
    tbb::parallel_for(std::int64_t{0}, parts, [&](std::int64_t p) {
      try {
        part[static_cast<std::size_t>(p)] = part_of(p);
      } catch (...) {
        failed[static_cast<std::size_t>(p)] = std::current_exception();
      }
    });
  });
  // The first failing part holds the first failing sample: a part stops at its first error, and the parts
  // before it had none.
  for (const std::exception_ptr& e : failed)
    if (e) std::rethrow_exception(e);
  Calibration cal = std::move(part[0]);
  for (std::size_t p = 1; p < part.size(); ++p) merge_calibration(cal, std::move(part[p]));
  return cal;
}

}  // namespace snnconv
