// bench_gemm_int8: GMAC/s of the W8A8 GEMM (snnconv/ann_baseline/gemm_int8.hpp) per kernel (AVX-512 VNNI when the
// CPU has it, AVX2) beside the f32 packed GEMM the same shape would run otherwise (gemm.hpp, at the active ISA), and
// a check that the two int8 kernels give the same bits.
//
//   bench_gemm_int8 [--shapes m,k,n;m,k,n...] [--threads 1,2] [--reps R] [--min-ms MS]
//
// Each figure is the best of R repetitions of a batch of calls lasting at least MS milliseconds; the kernels
// alternate within each shape. One thread: the thread's CPU time (steady on a loaded machine); more: wall time.
// u8 activations with zero point 0, s8 weights in [-127, 127], per-channel steps and a bias (the QANN's epilogue).
#include <fmt/core.h>

#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <tbb/task_arena.h>

#include "bench_clock.hpp"
#include "snnconv/ann_baseline/gemm.hpp"
#include "snnconv/ann_baseline/gemm_int8.hpp"
#include "snnconv/core/cpu_features.hpp"

using namespace snnconv;
using bench::thread_seconds;
using bench::wall_seconds;

namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // fashion_vit b64 (1088 rows: q/k/v 64x64, fc1 64x128, fc2 128x64), BERT-base-sized prefill 128 and b8.
  std::string shapes = "1088,64,64;1088,64,128;1088,128,64;128,768,768;128,768,3072;1024,768,3072;1024,3072,768";
  std::string threads = "1,2";
  int reps = 5;
  double min_ms = 50;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      fmt::print(stderr, "usage: bench_gemm_int8 [--shapes m,k,n;...] [--threads 1,2] [--reps R] [--min-ms MS]\n");
      return 2;
    }
    const std::string v = argv[++i];
    if (a == "--shapes") shapes = v;
    else if (a == "--threads") threads = v;
    else if (a == "--reps") reps = std::stoi(v);
    else if (a == "--min-ms") min_ms = std::stod(v);
    else {
      fmt::print(stderr, "bench_gemm_int8: unknown option {}\n", a);
      return 2;
    }
  }
  using ann::gemm::Int8Kernel;
  std::vector<Int8Kernel> kernels{Int8Kernel::avx2_madd16};
  if (detected_isa() >= Isa::avx512_vnni) kernels.insert(kernels.begin(), Int8Kernel::avx512_vnni);
  fmt::print("CPU: {} (detected {}, f32 GEMM at {})\n", cpu_description(), isa_name(detected_isa()),
             isa_name(active_isa()));
  fmt::print("{:>6} {:>6} {:>6} {:>3} {:>12} {:>12} {:>12} {:>14} {}\n", "m", "k", "n", "T", "vnni GMAC/s",
             "avx2 GMAC/s", "f32 GMAC/s", "f32/int8 time", "same bits");
  std::mt19937 rng(1);
  for (const std::string& st : split(shapes, ';')) {
    std::int64_t m = 0, k = 0, n = 0;
    if (std::sscanf(st.c_str(), "%ld,%ld,%ld", &m, &k, &n) != 3) {
      fmt::print(stderr, "bench_gemm_int8: bad shape {}\n", st);
      return 2;
    }
    std::vector<std::uint8_t> a(static_cast<std::size_t>(m * k));
    std::vector<std::int8_t> w(static_cast<std::size_t>(k * n));
    std::vector<float> af(a.size()), wf(w.size()), scale(static_cast<std::size_t>(n), 0.01f), bias(scale.size(), 0.5f);
    for (std::size_t i = 0; i < a.size(); ++i) af[i] = a[i] = static_cast<std::uint8_t>(rng() % 256);
    for (std::size_t i = 0; i < w.size(); ++i) wf[i] = w[i] = static_cast<std::int8_t>(static_cast<int>(rng() % 255) - 127);
    std::vector<ann::gemm::PackedS8> packed;
    for (Int8Kernel kn : kernels) packed.push_back(ann::gemm::pack_s8(w.data(), k, n, kn));
    const ann::gemm::PackedF32 pf = ann::gemm::pack_f32(wf.data(), k, n);
    std::vector<std::vector<float>> y(kernels.size() + 1, std::vector<float>(static_cast<std::size_t>(m * n)));
    for (const std::string& ts : split(threads, ',')) {
      const int t = std::stoi(ts);
      tbb::task_arena arena(t);
      std::vector<double> best(kernels.size() + 1, 1e30);
      std::vector<int> calls(kernels.size() + 1, 1);
      for (int r = 0; r < reps; ++r)
        for (std::size_t i = 0; i <= kernels.size(); ++i) {
          arena.execute([&] {
            auto run = [&] {
              if (i < kernels.size())
                ann::gemm::multiply_s8({a.data(), false, 0}, m, packed[i], scale.data(), bias.data(), y[i].data());
              else
                ann::gemm::multiply_f32(af.data(), m, pf, bias.data(), Activation::none, y[i].data());
            };
            run();
            for (;;) {
              const double t0 = t == 1 ? thread_seconds() : wall_seconds();
              for (int c = 0; c < calls[i]; ++c) run();
              const double dt = (t == 1 ? thread_seconds() : wall_seconds()) - t0;
              if (dt * 1e3 < min_ms && calls[i] < (1 << 20)) {
                calls[i] *= 2;
                continue;
              }
              best[i] = std::min(best[i], dt / calls[i]);
              break;
            }
          });
        }
      const double macs = static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n);
      const bool vnni = kernels.size() == 2;
      const bool same = !vnni || std::memcmp(y[0].data(), y[1].data(), y[0].size() * sizeof(float)) == 0;
      fmt::print("{:>6} {:>6} {:>6} {:>3} {:>12} {:>12.1f} {:>12.1f} {:>14.2f} {}\n", m, k, n, t,
                 vnni ? fmt::format("{:.1f}", macs / best[0] / 1e9) : std::string("-"),
                 macs / best[kernels.size() - 1] / 1e9, macs / best[kernels.size()] / 1e9,
                 best[kernels.size()] / best[0], same ? "yes" : "NO");
    }
  }
  return 0;
}
