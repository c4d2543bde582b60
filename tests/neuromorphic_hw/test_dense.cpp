#include <doctest/doctest.h>

#include <filesystem>

#include "graph_builder.hpp"
#include "snnconv/core/ledger.hpp"
#include "snnconv/neuromorphic_hw/dense.hpp"
#include "snnconv/neuromorphic_hw/profile.hpp"

using namespace snnconv;
using namespace snnconv::hw;

namespace {
const std::filesystem::path kProfiles = std::filesystem::path(SNNCONV_SOURCE_DIR) / "neuromorphic_hw" / "profiles";

// Y[256 x 1024] = X[256 x 512] . W[512 x 1024], int8 operands and outputs, int32 partial sums.
// Unbounded-buffer traffic: X 131,072 + W 524,288 + Y 262,144 = 917,504 bytes.
GemmDims gemm() { return GemmDims{256, 512, 1024, 1, 1, 1, 4}; }
}  // namespace

TEST_SUITE("unit") {
TEST_CASE("GEMM DRAM traffic per dataflow against the closed forms") {
  const Tile t{64, 128, 256};  // ceil(M/Tm) = 4, ceil(K/Tk) = 4, ceil(N/Tn) = 4
  // Output-stationary: X x 4, W x 4, Y once.
  const GemmTraffic os = gemm_dram_traffic(gemm(), Dataflow::output_stationary, t);
  CHECK(os.x_bytes == 524'288);
  CHECK(os.w_bytes == 2'097'152);
  CHECK(os.y_bytes == 262'144);
  CHECK(os.total() == 2'883'584);
  // Weight-stationary: X x 4, W once, psums 256 x 1024 x 4 bytes x (2 x 4 - 1).
  const GemmTraffic ws = gemm_dram_traffic(gemm(), Dataflow::weight_stationary, t);
  CHECK(ws.x_bytes == 524'288);
  CHECK(ws.w_bytes == 524'288);
  CHECK(ws.y_bytes == 7'340'032);
  // Input-stationary: X once, W x 4, psums as WS.
  const GemmTraffic is = gemm_dram_traffic(gemm(), Dataflow::input_stationary, t);
  CHECK(is.total() == 131'072 + 2'097'152 + 7'340'032);
  // K not split: the outputs leave once at their own width.
  CHECK(gemm_dram_traffic(gemm(), Dataflow::weight_stationary, Tile{64, 512, 256}).y_bytes == 262'144);
  // Footprint: 64x128 + 128x256 + 64x256x4.
  CHECK(tile_footprint_bytes(gemm(), t) == 8'192 + 32'768 + 65'536);
}

TEST_CASE("the best tiling minimises DRAM traffic under the SRAM size") {
  // Everything fits in 2 MB (footprint 131,072 + 524,288 + 1,048,576 = 1,703,936): unbounded traffic.
  const TilingChoice all = best_tiling(gemm(), 2.0 * 1024 * 1024);
  CHECK(all.traffic.total() == 917'504);
  CHECK(all.tile.m == 256);
  CHECK(all.tile.k == 512);
  CHECK(all.tile.n == 1024);
  // 64 KB: the choice fits and beats every hand-picked fitting tile in every dataflow.
  const double sram = 64 * 1024;
  const TilingChoice small = best_tiling(gemm(), sram);
  CHECK(tile_footprint_bytes(gemm(), small.tile) <= sram);
  CHECK(small.traffic.total() > 917'504);
  for (Tile t : {Tile{64, 128, 64}, Tile{32, 512, 64}, Tile{128, 128, 64}, Tile{16, 512, 32}, Tile{1, 64, 1024}})
    for (Dataflow f : {Dataflow::weight_stationary, Dataflow::output_stationary, Dataflow::input_stationary})
      if (tile_footprint_bytes(gemm(), t) <= sram) CHECK(small.traffic.total() <= gemm_dram_traffic(gemm(), f, t).total());
  // With Tm = 1 the weights of a 64 x 1024 tile stay put while X streams: WS with K split into 8
  // reads X 1 time, W once, and psums 15 times: that bounds the optimum from above.
  CHECK(small.traffic.total() <= gemm_dram_traffic(gemm(), Dataflow::weight_stationary, Tile{1, 64, 1024}).total());
}

TEST_CASE("memory-efficient attention moves fewer bytes than the naive one at sequence 512") {
  // Naive, N = 512, d = 64: 4Nd + 4N^2 = 131,072 + 1,048,576.
  CHECK(attention_naive_elements(512, 512, 64) == 1'179'648);
  // FlashAttention-1 with M = 16,384 elements: B_c = 64, T_c = 8: 2Nd + 8 (3Nd + 4N) = 65,536 + 802,816.
  CHECK(attention_flash_elements(512, 512, 64, 16'384) == 868'352);
  CHECK(attention_flash_elements(512, 512, 64, 16'384) < attention_naive_elements(512, 512, 64));
  // ~12 N^2 d^2 / M = 786,432 for the dominant term.
  CHECK(attention_flash_elements(512, 512, 64, 16'384) - 65'536 == doctest::Approx(12.0 * 512 * 512 * 64 * 64 / 16'384).epsilon(0.03));
  // A larger buffer moves fewer bytes still.
  CHECK(attention_flash_elements(512, 512, 64, 65'536) < attention_flash_elements(512, 512, 64, 16'384));
}

TEST_CASE("KV-cache traffic per generated token") {
  // 2 x 12 layers x 1,024 context x 768 x 2 bytes.
  CHECK(kv_cache_bytes_per_token(12, 1024, 768, 2.0) == 37'748'736);
}

TEST_CASE("pricing a ledger on the systolic int8 profile") {
  using namespace snnconv::test;
  const DenseAccelerator acc = dense_accelerator(find_profile("systolic_int8", kProfiles));
  Graph g;
  ValueId x = input(g, "x", DType::f32, {256, 512});
  g.value(x).quant = QuantParams{8, -128, 127, {0.1f}, {}, -1, 0};
  ValueId w = g.add_constant("w", Tensor(DType::f32, {512, 1024}));
  g.value(w).quant = QuantParams{8, -128, 127, {0.1f}, {}, -1, 0};
  ValueId y = node(g, OpKind::Linear, {x, w}, LinearAttrs{})[0];
  g.value(y).quant = QuantParams{8, -128, 127, {0.1f}, {}, -1, 0};
  g.set_outputs({y});
  const DenseWorkload work = dense_workload(g);
  REQUIRE(work.gemms.size() == 1);
  CHECK(work.gemms[0].dims.m == 256);
  CHECK(work.gemms[0].dims.k == 512);
  CHECK(work.gemms[0].dims.n == 1024);
  CHECK(work.gemms[0].dims.x_bytes == 1.0);

  Ledger l = Ledger::for_graph(g);
  l.samples = 2;
  const std::uint64_t mkn = 256ull * 512 * 1024;
  l.per_node[0].macs[8] = 2 * mkn;  // two forward passes
  const PriceResult r = price_dense(l, acc, work);
  // 1 MB SRAM < the 1.7 MB full footprint: DRAM traffic is the best tiling's, once per forward pass.
  const TilingChoice best = best_tiling(GemmDims{256, 512, 1024, 1, 1, 1, 4}, 1024.0 * 1024);
  CHECK(r.dram_bytes == doctest::Approx(2 * best.traffic.total()));
  CHECK(r.total.dram_pj == doctest::Approx(2 * best.traffic.total() * 162.5));
  CHECK(r.total.compute_pj == doctest::Approx(2.0 * mkn * 0.3));
  // Compute-bound: 2 x MKN / 1,024 PEs cycles at 1 GHz vs DRAM bytes / 25.6 GB/s.
  const double compute_s = 2.0 * mkn / 1024 / 1e9;
  const double dram_s = 2 * best.traffic.total() / 25.6e9;
  CHECK(r.latency_s == doctest::Approx(std::max(compute_s, dram_s)));
  CHECK(r.total.static_pj == doctest::Approx(0.1 * r.latency_s * 1e12));
  CHECK(r.energy_per_inference_pj() == doctest::Approx(r.total.total_pj() / 2));
  CHECK(r.sram_bytes > r.dram_bytes);

  // Attention: the memory-efficient variant moves fewer DRAM bytes than the naive one.
  Graph ga;
  ValueId q = input(ga, "q", DType::f32, {1, 2, 512, 64});
  ValueId k = input(ga, "k", DType::f32, {1, 2, 512, 64});
  ValueId v = input(ga, "v", DType::f32, {1, 2, 512, 64});
  ValueId o = node(ga, OpKind::Attention, {q, k, v}, AttentionAttrs{0.125f, false})[0];
  ga.set_outputs({o});
  const DenseWorkload aw = dense_workload(ga);
  REQUIRE(aw.attention.size() == 1);
  CHECK(aw.attention[0].heads == 2);
  Ledger la = Ledger::for_graph(ga);
  la.samples = 1;
  la.per_node[0].macs[32] = 2ull * 512 * 512 * 128;
  const PriceResult flash = price_dense(la, acc, aw, DenseOptions{true});
  const PriceResult naive = price_dense(la, acc, aw, DenseOptions{false});
  CHECK(naive.dram_bytes == doctest::Approx(2 * 1'179'648.0 * 4));
  CHECK(flash.dram_bytes < naive.dram_bytes);
}
}
