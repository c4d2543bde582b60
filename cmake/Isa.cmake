# The instruction sets of the build (docs/reliability.md, "The compiler"; docs/architecture.md, "ISA dispatch").
#
# The whole program is compiled for one portable baseline, SNNCONV_ARCH (x86-64-v3: AVX2, FMA, BMI2, F16C), so the
# binary computes the same on every machine that can run it. AVX-512 code exists only in the kernel files named by
# snnconv_avx512_sources(); the kernels are chosen at run time (core/cpu_features.hpp). Debian 12's g++ 12.2
# miscompiles constant vectors whenever AVX-512 is enabled (-march=x86-64-v4, or -march=native on an AVX-512
# CPU): {1, 1, 1, 0} becomes {1, 1, 1, 1}. The kernel files therefore build without the SLP vectoriser (their
# vector code is intrinsics), and configuring fails if the probe below is miscompiled with either set of flags.

set(SNNCONV_ARCH "x86-64-v3" CACHE STRING
    "Baseline -march of the whole build (portable; AVX-512 only inside run-time dispatched kernels)")
set(SNNCONV_AVX512_FLAGS -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -fno-tree-slp-vectorize)

add_compile_options(-march=${SNNCONV_ARCH} -mtune=generic)

# snnconv_avx512_sources(FILE...): these sources of the current folder hold AVX-512 kernels (intrinsics only,
# called only after core::cpu_features() says the CPU has the instructions).
function(snnconv_avx512_sources)
  foreach(f ${ARGN})
    get_source_file_property(opts ${f} COMPILE_OPTIONS)
    if(NOT opts)
      set(opts "")
    endif()
    list(APPEND opts ${SNNCONV_AVX512_FLAGS})
    set_source_files_properties(${f} PROPERTIES COMPILE_OPTIONS "${opts}")
  endforeach()
endfunction()

# The probe, built the two ways the product is built (-O2, as Release's -O3 also triggers it).
function(snnconv_probe_constant_vectors label)
  string(REPLACE ";" " " flags "${ARGN}")
  try_run(run_result compile_result ${CMAKE_BINARY_DIR}/probe_${label}
          ${PROJECT_SOURCE_DIR}/cmake/probe_constant_vectors.cpp
          CMAKE_FLAGS "-DCOMPILE_DEFINITIONS=-O2 ${flags}"
          COMPILE_OUTPUT_VARIABLE compile_out)
  if(NOT compile_result)
    message(FATAL_ERROR "the constant-vector probe does not compile with ${flags}:\n${compile_out}")
  endif()
  if(run_result EQUAL 0)
    message(STATUS "constant-vector probe (${label}: ${flags}): right")
  elseif(run_result EQUAL 3)
    message(FATAL_ERROR "${CMAKE_CXX_COMPILER} ${CMAKE_CXX_COMPILER_VERSION} miscompiles constant vectors with "
            "'${flags}' (std::vector<long>{1, 1, 1, 0} becomes {1, 1, 1, 1}): every constant vector of the "
            "product could be wrong. Build with the default SNNCONV_ARCH=x86-64-v3 (AVX-512 kernels are dispatched "
            "at run time), or use another compiler (docs/reliability.md, \"The compiler\").")
  else()
    message(STATUS "constant-vector probe (${label}): not run here (this CPU cannot run the code: ${run_result})")
  endif()
endfunction()

if(NOT SNNCONV_FUZZ)
  snnconv_probe_constant_vectors(baseline -march=${SNNCONV_ARCH})
  snnconv_probe_constant_vectors(avx512_kernels -march=${SNNCONV_ARCH} ${SNNCONV_AVX512_FLAGS})
endif()
