// bench_gemm: GFLOP/s of the packed-weight GEMM (snnconv/ann_baseline/gemm.hpp) per instruction set and thread
// count on the shapes of the models in docs/benchmarks.md, and a check that every ISA gives the same bits.
//
//   bench_gemm [--shapes m,k,n;m,k,n...] [--threads 1,2] [--reps R] [--min-ms MS] [--copies C] [--peak]
//
// --copies C cycles through C copies of the weights (C x the matrix above the L3 cache: weights come from
// memory, as in a 100M-parameter model; default 1: the weights stay in cache).
//
// --peak first prints the core's measured FMA peak (fma_peak.cpp: register-only FMA chains, 256- and 512-bit),
// the roofline against which docs/benchmarks.md states the GEMM's fraction of peak.
//
// Each measurement is the best of R repetitions of a batch of calls lasting at least MS milliseconds; the ISAs
// alternate within each shape, so load on the shared machine hits them alike. With one thread the time is the
// calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID: time the scheduler gave to another process is not
// counted), with more threads wall-clock time.
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <tbb/task_arena.h>

#include "bench_clock.hpp"
#include "snnconv/ann_baseline/gemm.hpp"
#include "snnconv/core/cpu_features.hpp"
#include "fma_peak.hpp"

using namespace snnconv;
using bench::thread_seconds;
using bench::wall_seconds;

namespace {

struct Shape3 {
  std::int64_t m, k, n;
};

std::vector<Shape3> parse_shapes(const std::string& text) {
  std::vector<Shape3> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ';')) {
    Shape3 s{};
    if (std::sscanf(item.c_str(), "%ld,%ld,%ld", &s.m, &s.k, &s.n) != 3) throw std::runtime_error("bad shape " + item);
    out.push_back(s);
  }
  return out;
}

std::vector<int> parse_ints(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // ViT-B/16 b8 (1576 tokens), BERT-base / GPT-2 prefill 128 (b1, b8), GPT-2's head, the small examples.
  std::string shapes_text = "1576,768,2304;1576,768,3072;1576,3072,768;128,768,2304;128,768,3072;128,3072,768;"
                            "1024,768,3072;128,768,50257;1088,64,64;4096,128,512;4096,512,128";
  std::string threads_text = "1,2";
  int reps = 5;
  double min_ms = 50;
  int copies = 1;
  bool peak = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--shapes") shapes_text = next();
    else if (a == "--threads") threads_text = next();
    else if (a == "--reps") reps = std::stoi(next());
    else if (a == "--min-ms") min_ms = std::stod(next());
    else if (a == "--copies") copies = std::stoi(next());
    else if (a == "--peak") peak = true;
    else {
      fmt::print(stderr, "usage: bench_gemm [--shapes m,k,n;...] [--threads 1,2] [--reps R] [--min-ms MS] [--copies C] [--peak]\n");
      return 2;
    }
  }
  std::vector<Isa> isas{Isa::avx2};
  if (detected_isa() >= Isa::avx512) isas.push_back(Isa::avx512);
  fmt::print("CPU: {} (detected {})\n", cpu_description(), isa_name(detected_isa()));
  if (peak) {
    // Best of R batches of ~min_ms each, the calling thread's CPU time.
    auto measure = [&](double (*loop)(std::int64_t)) {
      double best = 0.0;
      for (int r = 0; r < std::max(reps, 1); ++r) {
        const std::int64_t iterations = static_cast<std::int64_t>(min_ms * 1e5);  // ~4 cycles per iteration
        const double t0 = thread_seconds();
        const double flops = loop(iterations);
        best = std::max(best, flops / (thread_seconds() - t0) / 1e9);
      }
      return best;
    };
    fmt::print("FMA peak, 1 thread: 256-bit {:.1f} GFLOP/s", measure(bench::fma_flops_avx2));
    if (detected_isa() >= Isa::avx512) fmt::print(", 512-bit {:.1f} GFLOP/s", measure(bench::fma_flops_avx512));
    fmt::print("\n");
  }
  fmt::print("{:>6} {:>6} {:>6} {:>3} {:>12} {:>12} {:>8} {}\n", "m", "k", "n", "T", "avx2 GF/s", "avx512 GF/s", "ratio",
             "same bits");
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (const Shape3& s : parse_shapes(shapes_text)) {
    std::vector<float> x(static_cast<std::size_t>(s.m * s.k)), w(static_cast<std::size_t>(s.k * s.n)),
        bias(static_cast<std::size_t>(s.n));
    for (float& v : x) v = dist(rng);
    for (float& v : w) v = dist(rng);
    for (float& v : bias) v = dist(rng);
    std::vector<std::vector<ann::gemm::PackedF32>> packed(isas.size());
    for (std::size_t i = 0; i < isas.size(); ++i)
      for (int c = 0; c < copies; ++c) packed[i].push_back(ann::gemm::pack_f32(w.data(), s.k, s.n, false, isas[i]));
    std::vector<std::vector<float>> y(isas.size(), std::vector<float>(static_cast<std::size_t>(s.m * s.n)));
    for (int t : parse_ints(threads_text)) {
      tbb::task_arena arena(t);
      std::vector<double> best(isas.size(), 1e30);
      std::vector<int> calls(isas.size(), 1);
      for (int r = 0; r < reps; ++r)
        for (std::size_t i = 0; i < isas.size(); ++i) {
          arena.execute([&] {
            int next_copy = 0;
            auto run = [&] {
              ann::gemm::multiply_f32(x.data(), s.m, packed[i][static_cast<std::size_t>(next_copy)], bias.data(),
                                      Activation::none, y[i].data());
              next_copy = (next_copy + 1) % copies;
            };
            if (r == 0) {  // calibrate the batch to last min_ms
              const auto t0 = std::chrono::steady_clock::now();
              run();
              const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
              calls[i] = std::max(1, static_cast<int>(min_ms / std::max(ms, 1e-3)));
            }
            const double t0 = t == 1 ? thread_seconds() : wall_seconds();
            for (int c = 0; c < calls[i]; ++c) run();
            const double sec = ((t == 1 ? thread_seconds() : wall_seconds()) - t0) / calls[i];
            best[i] = std::min(best[i], sec);
          });
        }
      const double flops = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.k) * static_cast<double>(s.n);
      const double g0 = flops / best[0] / 1e9, g1 = isas.size() > 1 ? flops / best[1] / 1e9 : 0.0;
      const bool same = isas.size() < 2 || std::memcmp(y[0].data(), y[1].data(), y[0].size() * sizeof(float)) == 0;
      fmt::print("{:>6} {:>6} {:>6} {:>3} {:>12.1f} {:>12.1f} {:>8.2f} {}\n", s.m, s.k, s.n, t, g0, g1,
                 isas.size() > 1 ? g1 / g0 : 0.0, same ? "yes" : "NO");
    }
  }
  return 0;
}
