#!/usr/bin/env bash
# Everything gpuinit checks and measures on a GPU, in one run, offline.
#
#   bash benchmarks/gpu_suite.sh [OUT]      (OUT: default $OUT, else ./gpu-suite)
#
# On a machine with an NVIDIA GPU, CuPy, numba-cuda, torch and pytest already
# installed and no network: installs gpuinit from this working tree (no index, no
# dependencies fetched), then
#   1. gpuinit info, and the cold and cached first call (fresh processes);
#   2. the cuda-marked tests (pytest -m cuda);
#   3. benchmarks/gpu_agreement.py: 2^28 values per distribution and dtype against
#      the CPU, blocks and offsets, torch CUDA tensors in place, out of memory;
#   4. every GPU benchmark (sampling, initializers, model build, torch modules).
# Each step's log and every result file end up in OUT/gpu-suite.tar.gz (one file)
# and OUT/summary.txt; the exit status is the number of steps that failed.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu-suite}}"
mkdir -p "$out"
work="$(mktemp -d)"
touch "$work/started"
logs="$work/logs"
mkdir -p "$logs"
export PYTHONUNBUFFERED=1
export NUMBA_CACHE_DIR="$work/numba-cache"
python="${PYTHON:-python3}"
failed=0

step() {  # step NAME COMMAND...: run, log to logs/NAME.txt, count a failure
    local name="$1"
    shift
    echo "== $name: $*"
    local start=$SECONDS
    if "$@" >"$logs/$name.txt" 2>&1; then
        echo "   ok ($((SECONDS - start)) s)"
        echo "$name: ok ($((SECONDS - start)) s)" >>"$work/summary.txt"
    else
        echo "   FAILED ($((SECONDS - start)) s); last lines:"
        tail -n 15 "$logs/$name.txt"
        echo "$name: FAILED ($((SECONDS - start)) s)" >>"$work/summary.txt"
        failed=$((failed + 1))
    fi
}

step install "$python" -m pip install --no-index --no-deps --no-build-isolation -e .
step info "$python" -m gpuinit.cli info
first_call="import time, cupy, gpuinit as gi; t = time.perf_counter(); \
gi.random.normal((4096, 4096), seed=0, device='cuda'); cupy.cuda.Device().synchronize(); \
print(f'first normal((4096, 4096)) on cuda: {time.perf_counter() - t:.2f} s')"
step first-call-cold "$python" -c "$first_call"
step first-call-cached "$python" -c "$first_call"
step pytest-cuda "$python" -m pytest -q -m cuda -p no:cacheprovider
step agreement "$python" benchmarks/gpu_agreement.py --log2 28 --out "$work/results"
step bench-random "$python" benchmarks/bench_random.py --device cuda --out "$work/results"
step bench-initializers "$python" benchmarks/bench_initializers.py --device cuda
step bench-model-build "$python" benchmarks/bench_model_build.py --device cuda
step bench-torch "$python" benchmarks/bench_torch.py --device cuda

# The benchmarks that write next to themselves: take this run's files (newer than
# the run's start) into the results.
mkdir -p "$work/results"
find benchmarks/results -type f -newer "$work/started" -exec cp {} "$work/results/" \;
cp "$work/summary.txt" "$out/summary.txt"
tar -czf "$out/gpu-suite.tar.gz" -C "$work" logs results summary.txt
echo "failed steps: $failed; results in $out/gpu-suite.tar.gz"
exit "$failed"
