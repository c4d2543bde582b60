// The dense accelerator model: a systolic array under an SRAM/DRAM hierarchy. GEMM tiles and dataflow
// are chosen to minimise DRAM traffic under the SRAM size (closed forms of REFERENCES.md section 4);
// attention traffic is naive (scores materialised) or memory-efficient (FlashAttention tiling).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "snnconv/core/graph.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/neuromorphic_hw/pricing.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"

namespace snnconv::hw {

enum class Dataflow : std::uint8_t { weight_stationary, output_stationary, input_stationary };
std::string_view dataflow_name(Dataflow d);

// Y[M x N] = X[M x K] . W[K x N], element sizes in bytes (fractional for sub-byte widths).
struct GemmDims {
  std::int64_t m = 0, k = 0, n = 0;
  double x_bytes = 1, w_bytes = 1, y_bytes = 1, psum_bytes = 4;
};

struct Tile {
  std::int64_t m = 1, k = 1, n = 1;
};

struct GemmTraffic {
  double x_bytes = 0, w_bytes = 0, y_bytes = 0;  // y: outputs, or partial sums when K is split
  double total() const { return x_bytes + w_bytes + y_bytes; }
};

// DRAM traffic of one GEMM for a dataflow and tile (REFERENCES.md section 4):
//   OS: X = MK bx ceil(N/Tn), W = KN bw ceil(M/Tm), Y = MN by
//   WS: X = MK bx ceil(N/Tn), W = KN bw,            Y = MN by if ceil(K/Tk) = 1, else MN bp (2 ceil(K/Tk) - 1)
//   IS: X = MK bx,            W = KN bw ceil(M/Tm), Y as WS
GemmTraffic gemm_dram_traffic(const GemmDims& g, Dataflow flow, const Tile& t);
// SRAM bytes a tile needs: X tile + W tile + output/psum tile (no double buffering).
double tile_footprint_bytes(const GemmDims& g, const Tile& t);

struct TilingChoice {
  Dataflow dataflow = Dataflow::weight_stationary;
  Tile tile;
  GemmTraffic traffic;
};
// Searches tiles (powers of two and the full size per dim) and the three dataflows for the least DRAM
// traffic whose footprint fits in `sram_bytes`; ties go to the larger tile (fewer passes).
TilingChoice best_tiling(const GemmDims& g, double sram_bytes);

// Attention traffic in elements, per head (N queries, N_k keys, head dim d).
// Naive: read Q, K; write and read S; write and read P; read V; write O: 2Nd + 2N_k d + 4 N N_k ~ 4Nd + 4N^2.
double attention_naive_elements(std::int64_t n, std::int64_t n_k, std::int64_t d);
// FlashAttention-1 (Dao et al. 2022, Algorithm 1) with fast memory of M elements: blocks
// B_c = ceil(M / 4d), T_c = ceil(N_k / B_c); K and V read once, and per K/V block Q and O read and O written
// (3Nd) plus the running max and sum read and written (4N): 2 N_k d + T_c (3Nd + 4N) ~ 12 N^2 d^2 / M.
double attention_flash_elements(std::int64_t n, std::int64_t n_k, std::int64_t d, double fast_memory_elements);

// KV-cache bytes read per generated token: 2 (K and V) x layers x context x d_kv x bytes.
double kv_cache_bytes_per_token(std::int64_t layers, std::int64_t context, std::int64_t d_kv, double element_bytes);

// The dense workload: GEMM and attention shapes tied to ledger rows.
struct GemmShape {
  std::string name;
  std::int64_t ledger_row = -1;
  GemmDims dims;
};
struct AttentionShape {
  std::string name;
  std::int64_t ledger_row = -1;
  std::int64_t heads = 1;  // batch x heads
  std::int64_t n = 0, n_k = 0, d = 0;
  double element_bytes = 1;
};
struct DenseWorkload {
  std::vector<GemmShape> gemms;
  std::vector<AttentionShape> attention;
};
// Linear/Gemm/MatMul-with-weight/SynapseLinear nodes as GEMMs (leading output dims folded into M),
// Conv/SynapseConv as implicit GEMMs (M = output positions, K = C_in/group x kernel, N = C_out), Attention
// nodes as attention shapes. Element bytes come from QuantParams bits when set, else the dtype; the input of
// a Synapse* node is a ternary spike tensor, 2 bits per element. Throws ShapeError naming the node when an
// output shape is not static.
DenseWorkload dense_workload(const Graph& g);

struct DenseOptions {
  bool memory_efficient_attention = true;  // FlashAttention tiling instead of materialised scores
};

// Prices a ledger on a dense accelerator. Per GEMM row, invocations = ledger MACs / (M K N) (SNN rows with
// only ACs: the row's timesteps, since the array computes dense spike tensors); DRAM = invocations x the
// best tiling's traffic; SRAM = DRAM bytes (each lands in or leaves the buffer once) + the array's operand
// traffic (weight-stationary with Tk = pe_rows, Tn = pe_cols). Rows with kv_cache bytes read those from
// DRAM. Compute: MACs by width (<= 8 bits int8, <= 16 fp16, else fp32), ACs, dense and nonlinear ops.
// Latency per row = max(compute cycles, DRAM bytes / bandwidth); static = P_static x latency.
PriceResult price_dense(const Ledger& ledger, const DenseAccelerator& acc, const DenseWorkload& work,
                        const DenseOptions& options = {});

}  // namespace snnconv::hw
