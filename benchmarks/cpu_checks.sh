#!/usr/bin/env bash
# Every CPU measurement issue 20 asks for, in one run (about 20 minutes on 2 cores). Results
# land in $OUT (or ./cpu_results): one JSON per step and log.txt. Run it on a quiet machine;
# its goals assume native bf16 matrix units (AVX512-BF16 or AMX), and the first lines of the
# log say whether this CPU has them. Needs the dev extra (the reference package).
#   bash benchmarks/cpu_checks.sh                    # the measurements
#   QUICK=1 OUT=/tmp/cpudry bash benchmarks/cpu_checks.sh   # a dry run of the plumbing (~3 min)
# On a bigger machine with bf16 units (a GPU host), two of its cores stand in for the goals' two:
#   STEPS="stylize-tiny stylize-default" OMP_NUM_THREADS=2 taskset -c 0,1 bash benchmarks/cpu_checks.sh  # ~5 min
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-cpu_results}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ "${QUICK:-0}" = 1 ]; then
    ROUNDS=1; REPEATS=1; CROPS=(--crops-per-source 1)
else
    ROUNDS=5; REPEATS=5; CROPS=()  # the gate's own crops, as the shipped figures were measured
fi
source benchmarks/_steps.sh

python3 - <<'PY' 2>&1 | tee "$OUT/log.txt"
import platform, torch, stylizing_vit_aug
flags = open("/proc/cpuinfo").read().split() if platform.system() == "Linux" else []
native = sorted({f for f in flags if f in ("avx512_bf16", "amx_bf16", "amx_tile")})
print(f"torch {torch.__version__}, Python {platform.python_version()}, {platform.processor() or 'cpu'}, "
      f"{torch.get_num_threads()} threads, capability {torch.backends.cpu.get_cpu_capability()}, "
      f"bf16 units: {native or 'none (bf16 is emulated: the goals cannot be met here)'}, "
      f"library {stylizing_vit_aug.__version__}")
PY
# 1. Tiny, 224 px, batch 8, one style, the default dtype and threads, against the reference's
#    fp32 forward (goals: relative >= 2.0x, resize >= 2.5x).
step stylize-tiny 600 python3 benchmarks/bench_stylize.py --quick --rounds "$ROUNDS" --json "$OUT/stylize_tiny.json"
# 2. The bundled default, 224 px, batch 8, a distinct style per image, bf16, two threads
#    (goal: >= 60 img/s in the default mode).
step stylize-default 600 python3 benchmarks/bench_stylize.py --presets default --sizes 224 --batches 8 \
    --styles distinct --dtype bfloat16 --threads 2 --rounds "$ROUNDS" --json "$OUT/stylize_default.json"
# 3. Worker start (goal: <= 1.5 s), and a DataLoader worker's first batch by start method.
step worker-start 600 python3 benchmarks/bench_import_cost.py --repeats "$REPEATS" --json "$OUT/import_cost.json"
# 4. The quality gate of the bundled default in the dtype above: its figures must stay within
#    +-0.005 of the shipped ones (docs/bundled-default.md).
step quality 600 python3 benchmarks/quality_default.py evaluate --json "$OUT/quality.json" "${CROPS[@]}"
finish
