#!/usr/bin/env bash
# The prepared GPU run of the benchmark suite: a few minutes on one GPU.
#
#   benchmarks/gpu.sh [OUT_DIR] [extra options for python -m benchmarks]
#
# Runs the gpu preset (every model at batch 1 and 32 in float32; resnet50 also in
# channels-last and under bfloat16 / float16 autocast; activation maximization with 16
# units per call against one unit per call; deep dream) and writes results.json,
# results.md and the charts to OUT_DIR (default benchmarks/results/gpu). Copy the
# tables of results.md into docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/gpu}"
shift || true
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -c "import torch; assert torch.cuda.is_available(), 'torch sees no CUDA GPU'; print(torch.cuda.get_device_name())"
python -m benchmarks --preset gpu --out "$out" "$@"
