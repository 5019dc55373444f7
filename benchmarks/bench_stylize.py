"""Stylisation throughput: our engine vs the reference package (stylizing-vit==1.0.0).

    python benchmarks/bench_stylize.py --presets tiny,small,base            # CPU: batch 8
    python benchmarks/bench_stylize.py --presets tiny,base --batch 256 --compile --json out.json  # CUDA

Goals: 2-core CPU, tiny, batch 8, one style for the batch, uint8 in/out: >= 1.5x the reference fp32
forward. H100/H200, batch 256, bf16: tiny >= 5x, base >= 3.5x the reference under bf16 autocast.
"""

import sys

from stylizing_vit_aug.commands.bench import main

if __name__ == "__main__":
    sys.exit(main())
