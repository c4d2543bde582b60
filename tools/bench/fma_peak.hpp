// Register-only FMA loops for the measured peak (fma_peak.cpp): each returns the FLOPs it performed.
#pragma once

#include <cstdint>

namespace snnconv::bench {

inline volatile float peak_sink = 0.0f;  // keeps the chains' results alive
double fma_flops_avx2(std::int64_t iterations);
double fma_flops_avx512(std::int64_t iterations);

}  // namespace snnconv::bench
