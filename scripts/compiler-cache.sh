# Sourced by build.sh and test-sanitize.sh: when ccache is installed (install-deps.sh installs it), compile
# through it, with paths taken relative to the checkout so that any clone or worktree of the repository reuses
# the objects another one compiled. Sets the array `compiler_cache` to the cmake arguments (empty without ccache).
compiler_cache=()
if command -v ccache >/dev/null && [[ ${SNNCONV_NO_CCACHE:-0} != 1 ]]; then
  export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
  compiler_cache=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
