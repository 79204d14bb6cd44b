#!/usr/bin/env bash
# One idempotent set-up: a virtualenv in .venv with CPU torch, llama-cpp-python
# built for this CPU, the package and its dependencies, and the default model
# in models/. A second run only checks what is already there.
#   bash scripts/setup.sh            # to chat
#   bash scripts/setup.sh --test     # also Debian's Chromium, for the browser tests
#   bash scripts/setup.sh small      # also the 0.5B model (names from rag/weights.py)
set -euo pipefail
cd "$(dirname "$0")/.."

models=()
with_browser=false
for arg in "$@"; do
  case "$arg" in
    --test) with_browser=true ;;
    *) models+=("$arg") ;;
  esac
done

PYTHON=${PYTHON:-python3}
LLAMA_VERSION=0.3.36
TORCH_VERSION=2.13.0

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip --disable-pip-version-check -q"

# CPU torch first: an unpinned torch (pulled by sentence-transformers) is a CUDA build of several GB.
.venv/bin/python -c "import torch" 2>/dev/null || $PIP install "torch==$TORCH_VERSION"

# llama.cpp's default -march=native enables AMX here, which these CPUs report but cannot run
# (SIGILL). Choose the flags from /proc/cpuinfo instead; AVX-512 reads prompts ~1.5x faster.
cpu_flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { [[ " $cpu_flags " == *" $1 "* ]]; }
cmake_args="-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
tag=generic
if has avx2 && has fma && has f16c; then
  cmake_args+=" -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"; tag=avx2
fi
if [ "$tag" = avx2 ] && has avx512f && has avx512bw && has avx512vl && has avx512dq; then
  cmake_args+=" -DGGML_AVX512=ON"; tag=avx512
  if has avx512vbmi; then cmake_args+=" -DGGML_AVX512_VBMI=ON"; tag+=-vbmi; fi
  if has avx512_vnni; then cmake_args+=" -DGGML_AVX512_VNNI=ON"; tag+=-vnni; fi
fi

if ! .venv/bin/python -c "import llama_cpp, sys; sys.exit(llama_cpp.__version__ != '$LLAMA_VERSION')" 2>/dev/null; then
  # The wheel is cached per flag set: pip's own cache ignores CMAKE_ARGS and could hand back
  # a wheel built for another CPU.
  wheels="${XDG_CACHE_HOME:-$HOME/.cache}/rag-wheels/llama-cpp-python-$LLAMA_VERSION-$tag"
  if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "Building llama-cpp-python $LLAMA_VERSION ($tag); this takes about 7 minutes once."
    mkdir -p "$wheels"
    CMAKE_ARGS="$cmake_args" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
      $PIP wheel --no-cache-dir --no-deps -w "$wheels" "llama-cpp-python==$LLAMA_VERSION"
  fi
  $PIP install "$wheels"/llama_cpp_python-*.whl
fi

$PIP install -e ".[dev]"

if $with_browser && ! command -v chromium >/dev/null; then
  # The browser test drives Debian's Chromium (a browser download is not possible here).
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi

.venv/bin/python -m rag.weights fetch default "${models[@]}"
