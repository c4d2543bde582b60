#include "snnconv/neuromorphic_hw/dense.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "snnconv/core/error.hpp"
#include "snnconv/core/si_format.hpp"

namespace snnconv::hw {

namespace {

double ceil_ratio(std::int64_t a, std::int64_t b) {
  return b <= 0 ? 0.0 : static_cast<double>((a + b - 1) / b);
}
double d(std::int64_t v) {
  return static_cast<double>(v);
}
double d(std::uint64_t v) {
  return static_cast<double>(v);
}

std::vector<std::int64_t> tile_candidates(std::int64_t dim) {
  std::vector<std::int64_t> c;
  for (std::int64_t t = 1; t < dim; t *= 2) c.push_back(t);
  c.push_back(std::max<std::int64_t>(dim, 1));
  return c;
}

}  // namespace

std::string_view dataflow_name(Dataflow f) {
  switch (f) {
    case Dataflow::weight_stationary:
      return "weight-stationary";
    case Dataflow::output_stationary:
      return "output-stationary";
    case Dataflow::input_stationary:
      return "input-stationary";
  }
  return "?";
}

GemmTraffic gemm_dram_traffic(const GemmDims& g, Dataflow flow, const Tile& t) {
  const double x = d(g.m) * d(g.k) * g.x_bytes;
  const double w = d(g.k) * d(g.n) * g.w_bytes;
  const double y = d(g.m) * d(g.n) * g.y_bytes;
  const double k_passes = ceil_ratio(g.k, t.k);
  // Partial sums leave the buffer when K is split: written once per K pass, read back for all but the first.
  const double psum = k_passes <= 1 ? y : d(g.m) * d(g.n) * g.psum_bytes * (2 * k_passes - 1);
  switch (flow) {
    case Dataflow::output_stationary:
      return {x * ceil_ratio(g.n, t.n), w * ceil_ratio(g.m, t.m), y};
    case Dataflow::weight_stationary:
      return {x * ceil_ratio(g.n, t.n), w, psum};
    case Dataflow::input_stationary:
      return {x, w * ceil_ratio(g.m, t.m), psum};
  }
  return {};
}

double tile_footprint_bytes(const GemmDims& g, const Tile& t) {
  return d(t.m) * d(t.k) * g.x_bytes + d(t.k) * d(t.n) * g.w_bytes + d(t.m) * d(t.n) * g.psum_bytes;
}

TilingChoice best_tiling(const GemmDims& g, double sram_bytes) {
  TilingChoice best;
  best.tile = Tile{1, 1, 1};
  best.traffic = gemm_dram_traffic(g, best.dataflow, best.tile);
  double best_volume = 1;
  bool found = false;
  const auto cm = tile_candidates(g.m), ck = tile_candidates(g.k), cn = tile_candidates(g.n);
  for (Dataflow flow : {Dataflow::weight_stationary, Dataflow::output_stationary, Dataflow::input_stationary})
    for (std::int64_t tm : cm)
      for (std::int64_t tk : ck)
        for (std::int64_t tn : cn) {
          const Tile t{tm, tk, tn};
          if (tile_footprint_bytes(g, t) > sram_bytes) continue;
          const GemmTraffic tr = gemm_dram_traffic(g, flow, t);
          const double volume = d(tm) * d(tk) * d(tn);
          if (!found || tr.total() < best.traffic.total() ||
              (tr.total() == best.traffic.total() && volume > best_volume)) {
            best = TilingChoice{flow, t, tr};
            best_volume = volume;
            found = true;
          }
        }
  return best;
}

double attention_naive_elements(std::int64_t n, std::int64_t n_k, std::int64_t hd) {
  return 2 * d(n) * d(hd) + 2 * d(n_k) * d(hd) + 4 * d(n) * d(n_k);
}

double attention_flash_elements(std::int64_t n, std::int64_t n_k, std::int64_t hd, double fast_memory_elements) {
  const double block_c = std::max(1.0, std::ceil(fast_memory_elements / (4.0 * d(hd))));
  const double t_c = std::ceil(d(n_k) / block_c);
  return 2 * d(n_k) * d(hd) + t_c * (3 * d(n) * d(hd) + 4 * d(n));
}

double kv_cache_bytes_per_token(std::int64_t layers, std::int64_t context, std::int64_t d_kv, double element_bytes) {
  return 2.0 * d(layers) * d(context) * d(d_kv) * element_bytes;
}

namespace {

double element_bytes(const Value& v) {
  if (v.quant) return v.quant->bits / 8.0;
  return static_cast<double>(dtype_size(v.type.dtype));
}

Shape static_shape(const Graph& g, NodeId id, ValueId v) {
  if (!g.value(v).type.is_static()) throw ShapeError("the dense accelerator model needs static shapes", g.context(id));
  return g.value(v).type.static_shape();
}

}  // namespace

DenseWorkload dense_workload(const Graph& g) {
  DenseWorkload w;
  for (NodeId id : g.topological_order()) {
    const Node& n = g.node(id);
    const bool weighted = n.inputs.size() > 1 && g.is_constant(n.inputs[1]);
    const bool spiking_input = n.kind == OpKind::SynapseLinear || n.kind == OpKind::SynapseConv;
    switch (n.kind) {
      case OpKind::Linear:
      case OpKind::SynapseLinear:
      case OpKind::MatMul:
      case OpKind::Gemm:
      case OpKind::Conv:
      case OpKind::SynapseConv: {
        if (!weighted) break;
        const Value& wv = g.value(n.inputs[1]);
        const Shape out = static_shape(g, id, n.outputs[0]);
        const Shape ws = wv.constant->shape();
        if (out.empty() || ws.empty()) break;
        GemmShape s;
        s.name = n.name;
        s.ledger_row = id.index;
        const std::int64_t out_elems = checked_numel(out, n.name);
        const bool conv = n.kind == OpKind::Conv || n.kind == OpKind::SynapseConv;
        if (conv) {
          s.dims.n = ws[0];
          s.dims.k = wv.constant->numel() / std::max<std::int64_t>(ws[0], 1);
        } else if (n.kind == OpKind::Gemm && std::get<GemmAttrs>(n.attrs).trans_b && ws.size() == 2) {
          s.dims.n = ws[0];
          s.dims.k = ws[1];
        } else {
          s.dims.n = ws.back();
          s.dims.k = ws.size() >= 2 ? ws[ws.size() - 2] : 1;
        }
        // Conv outputs are [B, C_out, spatial...]: M = output positions; dense outputs [..., N].
        s.dims.m = out_elems / std::max<std::int64_t>(s.dims.n, 1);
        s.dims.x_bytes = spiking_input ? 0.25 : element_bytes(g.value(n.inputs[0]));
        s.dims.w_bytes = element_bytes(wv);
        s.dims.y_bytes = element_bytes(g.value(n.outputs[0]));
        w.gemms.push_back(std::move(s));
        break;
      }
      case OpKind::Attention: {
        const Shape q = static_shape(g, id, n.inputs[0]);
        const Shape k = static_shape(g, id, n.inputs[1]);
        if (q.size() != 4 || k.size() != 4) break;
        AttentionShape a;
        a.name = n.name;
        a.ledger_row = id.index;
        a.heads = q[0] * q[1];
        a.n = q[2];
        a.n_k = k[2];
        a.d = q[3];
        a.element_bytes = element_bytes(g.value(n.inputs[0]));
        w.attention.push_back(std::move(a));
        break;
      }
      default:
        break;
    }
  }
  return w;
}

PriceResult price_dense(const Ledger& ledger, const DenseAccelerator& acc, const DenseWorkload& work,
                        const DenseOptions& options) {
  PriceResult r;
  r.model = acc.name;
  r.samples = ledger.samples;
  r.tokens = ledger.tokens;
  const std::size_t rows = ledger.per_node.size();
  r.per_layer.resize(rows);
  const double pes = d(std::max<std::int64_t>(acc.pe_rows * acc.pe_cols, 1));
  const double lanes = d(std::max<std::int64_t>(acc.pe_cols, 1));  // vector unit width for elementwise work
  std::vector<double> cycles(rows, 0.0);
  std::vector<bool> modelled(rows, false);

  for (std::size_t i = 0; i < rows; ++i) {
    const Counters& c = ledger.per_node[i];
    LayerEnergy& l = r.per_layer[i];
    if (i < ledger.node_names.size()) l.name = ledger.node_names[i];
    if (i < ledger.node_ops.size()) l.op = ledger.node_ops[i];
    r.spikes += c.spikes();
    double mac_pj = 0;
    for (std::size_t w = 1; w < kWidthSlots; ++w) {
      const double e = w <= 8 ? acc.mac_int8_energy_pj : (w <= 16 ? acc.mac_fp16_energy_pj : acc.mac_fp32_energy_pj);
      mac_pj += d(c.macs[w]) * e;
    }
    // A membrane update is a read-modify-write of an accumulator on the vector unit: one dense op.
    const ComputeTerms t{mac_pj, acc.ac_energy_pj * d(c.total_acs()), acc.dense_op_energy_pj * d(c.neuron_updates),
                         acc.dense_op_energy_pj * d(c.dense_ops), acc.nonlinear_op_energy_pj * d(c.nonlinear_ops)};
    l.energy.compute_pj = t.total_pj();
    r.compute_terms += t;
    cycles[i] = d(c.total_macs() + c.total_acs()) / pes + d(c.dense_ops + c.neuron_updates + c.nonlinear_ops) / lanes;
    // The KV cache outgrows the buffer in decoding: its bytes come from DRAM.
    const auto kv = static_cast<std::size_t>(MemClass::kv_cache);
    l.dram_bytes += d(c.bytes_read[kv] + c.bytes_written[kv]);
  }

  auto row_of = [&](std::int64_t row) -> std::size_t {
    return row >= 0 && static_cast<std::size_t>(row) < rows ? static_cast<std::size_t>(row) : rows;
  };
  for (const GemmShape& s : work.gemms) {
    const std::size_t i = row_of(s.ledger_row);
    if (i == rows) continue;
    const Counters& c = ledger.per_node[i];
    GemmDims dims = s.dims;
    dims.psum_bytes = acc.psum_bytes;
    const double mkn = d(dims.m) * d(dims.k) * d(dims.n);
    if (mkn <= 0) continue;
    // An SNN row (ACs only) runs the dense spike tensor through the array every timestep.
    const double calls = c.total_macs() > 0 ? d(c.total_macs()) / mkn
                                            : (c.total_acs() > 0 ? d(std::max<std::uint64_t>(c.timesteps, 1)) : 0.0);
    const TilingChoice best = best_tiling(dims, acc.sram_bytes);
    const GemmTraffic array =
        gemm_dram_traffic(dims, Dataflow::weight_stationary, Tile{dims.m, acc.pe_rows, acc.pe_cols});
    LayerEnergy& l = r.per_layer[i];
    l.dram_bytes += calls * best.traffic.total();
    l.sram_bytes += calls * (best.traffic.total() + array.total());
    cycles[i] = std::max(cycles[i], calls * mkn / pes);
    modelled[i] = true;
  }
  for (const AttentionShape& a : work.attention) {
    const std::size_t i = row_of(a.ledger_row);
    if (i == rows) continue;
    const Counters& c = ledger.per_node[i];
    modelled[i] = true;
    const auto kv = static_cast<std::size_t>(MemClass::kv_cache);
    if (c.bytes_read[kv] > 0) continue;  // decoding: K/V traffic is the ledger's KV-cache bytes
    const double per_call_macs = d(a.heads) * d(a.n) * d(a.n_k) * 2.0 * d(a.d);
    if (per_call_macs <= 0) continue;
    const double calls = d(c.total_macs() + c.total_acs()) / per_call_macs;
    const double fast_elements = acc.sram_bytes / std::max(a.element_bytes, 1e-9);
    const double elements = options.memory_efficient_attention
                                ? attention_flash_elements(a.n, a.n_k, a.d, fast_elements)
                                : attention_naive_elements(a.n, a.n_k, a.d);
    const double bytes = calls * d(a.heads) * elements * a.element_bytes;
    r.per_layer[i].dram_bytes += bytes;
    r.per_layer[i].sram_bytes += bytes;
  }
  // Everything else the engine moved stays in the buffer.
  for (std::size_t i = 0; i < rows; ++i) {
    if (modelled[i]) continue;
    const Counters& c = ledger.per_node[i];
    for (std::size_t m = 0; m < kMemClassCount; ++m)
      if (m != static_cast<std::size_t>(MemClass::kv_cache))
        r.per_layer[i].sram_bytes += d(c.bytes_read[m] + c.bytes_written[m]);
  }
  const double freq = acc.frequency_hz > 0 ? acc.frequency_hz : 1.0;
  for (std::size_t i = 0; i < rows; ++i) {
    LayerEnergy& l = r.per_layer[i];
    l.energy.sram_pj = l.sram_bytes * acc.sram_energy_per_byte_pj;
    l.energy.dram_pj = l.dram_bytes * acc.dram_energy_per_byte_pj;
    const double dram_s = acc.dram_bandwidth_bytes_per_s > 0 ? l.dram_bytes / acc.dram_bandwidth_bytes_per_s : 0.0;
    r.latency_s += std::max(cycles[i] / freq, dram_s);  // compute and transfers overlap within a layer
    r.total += l.energy;
    r.sram_bytes += l.sram_bytes;
    r.dram_bytes += l.dram_bytes;
  }
  r.total.static_pj = acc.static_power_w * r.latency_s * 1e12;
  r.notes.push_back(fmt::format("dense model on {}: {}x{} PEs at ideal utilisation, {} SRAM, attention {}",
                                acc.name, acc.pe_rows, acc.pe_cols, format_bytes(acc.sram_bytes),
                                options.memory_efficient_attention ? "memory-efficient (FlashAttention-1 tiling)"
                                                                   : "naive (scores materialised)"));
  return r;
}

}  // namespace snnconv::hw
