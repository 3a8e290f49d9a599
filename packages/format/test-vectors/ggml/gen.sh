#!/usr/bin/env bash
# Rebuilds the ggml block-type vectors in this folder from a llama.cpp build:
#   gen.sh LLAMA_CPP_DIR   (a source tree built with /work/shared/tools/build-llamacpp.sh or cmake -B build)
# Needs cc; links gen.c against LLAMA_CPP_DIR/build/bin/libggml-base.so (the reference dequantize_row_*).
set -eu
src=${1:?usage: gen.sh LLAMA_CPP_DIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lib="$src/build/bin"
cc -O2 -std=c11 -I"$src/ggml/include" "$here/gen.c" -L"$lib" -lggml-base -lm -Wl,-rpath,"$lib" -o "$tmp/gen"
"$tmp/gen" "$here"
