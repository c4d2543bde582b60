// Which instruction sets the kernels may use on this machine (docs/architecture.md, "ISA dispatch").
//
// The program is built for a portable baseline (x86-64-v3: AVX2 + FMA); AVX-512 kernels live in files of their
// own and are chosen at run time from the CPU's own answer. SNNCONV_ISA=avx2|avx512|avx512_vnni in the
// environment caps the choice (tests run both paths on one machine; a value above what the CPU has is capped
// to it). Every dispatched kernel computes the same bits as its baseline twin or is tested against the
// reference within the tolerance its docs state.
#pragma once

namespace snnconv {

// Ordered: each level includes the ones below it.
enum class Isa : int {
  avx2 = 0,         // AVX2 + FMA (the build's baseline)
  avx512 = 1,       // AVX-512 F, BW, VL, DQ
  avx512_vnni = 2,  // + AVX-512 VNNI (vpdpbusd / vpdpwssd)
};

// The CPU's own level (cpuid and the OS's saved-state check), computed once.
Isa detected_isa();
// The level kernels use: detected_isa() capped by SNNCONV_ISA (read once; an unknown value is a UsageError).
Isa active_isa();
const char* isa_name(Isa isa);
// "avx512_vnni (AMD EPYC ...)": the level and the CPU model, for benchmark tables and --json outputs.
const char* cpu_description();

}  // namespace snnconv
