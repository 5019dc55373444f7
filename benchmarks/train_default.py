"""The recipe of the bundled default checkpoint: train it in stages on a CPU, then ship it.

Why this recipe (measurements in the README's "The bundled default" section):

* architecture: tiny width (192, 3 heads), depth 6, 112 px with patch 8 — 196 tokens like the
  tiny preset at 224 px, a rank-4 decoder instead of rank 2, about half the cost of depth 12;
* data: the training regions (left 75 %) of the five bundled sources, one domain each, crops of
  224 px at full resolution seen at 112 px (``--scale 0.5``), the held-out right 25 % never seen;
* objective: synthetic-stain supervision (``--objective stain``): two crops of one slide, the
  style a random optical-density stain change of one, the target the same change of the other;
  pixel L1 on the relative output, the stylised output and self-stylisation; no VGG, so a step
  costs two encoder passes and runs at about 14 samples/s on 2 CPU cores;
* AdamW (the paper's betas and weight decay), lr 4e-4 with 200 warmup steps and cosine to zero,
  batch 8, bf16 autocast where the CPU has native bf16.

    python benchmarks/train_default.py stage runs/default-s1 --steps 6000 --stop-after 1000
    python benchmarks/train_default.py export runs/default-s1       # its last checkpoint -> final/
    python benchmarks/train_default.py stage runs/default-s2 --steps 3000 --lr 3e-4 --stop-after 500 \
        --init runs/default-s1/final --stain-weights colour=1
    python benchmarks/train_default.py export runs/default-s2
    python benchmarks/train_default.py stage runs/default-s3 --steps 2000 --lr 2e-4 --stop-after 250 \
        --init runs/default-s2/final --stain-weights colour=1,seam=10
    python benchmarks/train_default.py export runs/default-s3
    python benchmarks/train_default.py stage runs/default-s4 --steps 1500 --lr 2e-4 --stop-after 250 \
        --init runs/default-s3/final --stain-weights colour=1,seam=10
    python benchmarks/train_default.py export runs/default-s4
    python benchmarks/train_default.py stage runs/default-s5 --steps 1200 --lr 2e-4 \
        --init runs/default-s4/final --stain-weights colour=1,seam=10
    python benchmarks/train_default.py ship runs/default-s5/final      # gate, then weights/ (fp16)

Stage 1 (synthetic-stain pairs only) levels off at a held-out style ratio of about 0.75 within
1,000 steps; stage 2 adds real styles of other sources with the ``colour`` term (the paper's
style statistics, on pixels) and reaches about 0.33 within 250 steps, but its stronger changes
show the decoder's 8-px block grid; stage 3 adds the ``seam`` term against it (first a global
version, which removed blocks in texture but left a faint lattice on flat background; stage 4
a local border term, which did not remove the lattice either: its bumps are soft, not sharp), and
stage 5 today's ``seam`` term, which also penalises the patch template (the pattern every patch
repeats). Stages 2-4 were stopped early when a held-out check showed what to change next.
On a machine shared with other work, set
``OMP_NUM_THREADS=1``: two intra-op threads on two busy cores ran up to 10x slower.

``stage`` resumes a killed run (``--resume auto`` when a checkpoint exists). ``ship`` measures
the checkpoint with ``quality_default.py`` and writes it into ``weights/`` only if it passes the
shipping bar there, with a model card that records the recipe, data, samples seen and figures.

Provenance names runs relative to the repository (``runs/default-s5/final``), never a folder of
the machine they ran on: ``export`` and ``ship`` take run folders inside the repository, given
relative to it (run the script from the repository root), and refuse absolute paths.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from pathlib import Path

import torch

import quality_default
import stylizing_vit_aug as sva
from stylizing_vit_aug.benchmarking import cpu_info
from stylizing_vit_aug.commands.train import main as train_main
from stylizing_vit_aug.devices import cpu_bf16_is_faster
from stylizing_vit_aug.hub import BUNDLED_WEIGHTS_DIR, save_pretrained
from stylizing_vit_aug.model import ModelConfig, StylizingViT
from stylizing_vit_aug.registry import DEFAULT_ALIAS
from stylizing_vit_aug.train.training_state import read_training_checkpoint

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path("data/default-train")
PREVIEW = ROOT / "docs" / "default-preview.png"
ARCHITECTURE = ["--init", "tiny", "--img-size", "112", "--patch-size", "8", "--depth", "6"]
RECIPE = [
    "--objective", "stain", "--pairing", "same_domain", "--scale", "0.5", "--cache-images",
    "--samples-per-epoch", "4000", "--batch-size", "8", "--workers", "1",
    "--warmup-steps", "200", "--save-every", "250", "--no-progress",
]


def precision() -> list[str]:
    """bf16 autocast only where the CPU has bf16 units: emulated, a step ran about 30x slower."""
    return ["--precision", "bf16" if cpu_bf16_is_faster() else "fp32"]


def repository_path(path: Path) -> str:
    """``path`` as provenance records it: relative to the repository root, in ``/`` form. An
    absolute path, or one that leads out of the repository, is refused (a card must not carry a
    machine's folders)."""
    if path.is_absolute() or str(path).startswith("~"):
        raise SystemExit(
            f"{path} is a machine path: give the run folder relative to the repository (e.g. runs/default-s5/final), "
            "from the repository root; provenance records it as given"
        )
    try:
        return (Path.cwd() / path).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        raise SystemExit(
            f"{path} is outside the repository ({ROOT.name}/): provenance can only name runs inside it"
        ) from None


def machine_paths(record: object) -> list[str]:
    """The strings of ``record`` (nested dicts and lists) that are absolute paths."""
    if isinstance(record, dict):
        return [found for value in record.values() for found in machine_paths(value)]
    if isinstance(record, (list, tuple)):
        return [found for value in record for found in machine_paths(value)]
    if isinstance(record, str) and (record.startswith(("/", "~")) or str(ROOT) in record or Path(record).is_absolute()):
        return [record]
    return []


def refuse_machine_paths(**records: object) -> None:
    found = {name: machine_paths(record) for name, record in records.items()}
    found = {name: paths for name, paths in found.items() if paths}
    if found:
        raise SystemExit(f"refusing to write provenance that names machine paths: {found}")


def training_data(without: str | None) -> Path:
    """The training regions' folder: every source's, or (``without``) all but one, for a stylizer
    that must never have seen that source (the DG benchmark's strict per-fold stylizers)."""
    names = [path.stem for path in quality_default.source_paths()]
    if without is not None and without not in names:
        raise SystemExit(f"--without {without!r}: not a bundled source; choose one of {', '.join(names)}")
    directory = DATA_DIR if without is None else DATA_DIR.with_name(f"{DATA_DIR.name}-without-{without}")
    if not all((directory / name).is_dir() for name in names if name != without):
        quality_default.prepare(directory, skip=without)
    return directory


def stage(
    run: Path, steps: int, lr: float, init: str | None, stain_weights: str, stop_after: int | None,
    without: str | None = None,
) -> int:
    """One training stage: from scratch, or from the previous stage's export (``init``)."""
    data = training_data(without)
    start = ["--init", init] if init else ARCHITECTURE
    resume = ["--resume", "auto"] if (run / "checkpoints" / "last.safetensors").is_file() else []
    if not resume and run.is_dir() and any(run.iterdir()):
        resume = ["--overwrite"]  # an attempt killed before its first checkpoint: nothing to resume
    stop = ["--stop-after", str(stop_after)] if stop_after else []
    return train_main([
        str(data), "-o", str(run), *start, *RECIPE, *precision(), "--max-steps", str(steps), "--lr", str(lr),
        "--stain-weights", stain_weights, *stop, *resume,
    ])


def export(run: Path) -> int:
    """A stage stopped before its schedule ended: its last checkpoint as ``final/`` (for ``--init``)."""
    source = repository_path(run)
    state = read_training_checkpoint(run / "checkpoints" / "last.safetensors")
    trainer, config = state["trainer"], state["trainer"]["config"]
    model = StylizingViT(**ModelConfig(**trainer["architecture"]).to_dict())
    model.load_state_dict(state["model"])
    stylizer = sva.Stylizer(model, trainer["mean"], trainer["std"], device="cpu", dtype=torch.float32, source=source)
    training = {
        "steps": trainer["step"], "batch_size": config["batch_size"], "accumulate": config["accumulate"],
        "world_size": trainer["world_size"], "lr": config["lr"], "objective": trainer["objective"],
        "pairing": config["pairing"], "data": config["data"],
        "note": f"stopped at step {trainer['step']} of a {trainer['total_steps']}-step schedule",
    }
    refuse_machine_paths(source=source, training=training)
    save_pretrained(stylizer, run / "final", base_model=trainer.get("base_model"), training=training)
    print(f"exported step {trainer['step']} to {run / 'final'}")
    return 0


def lineage(checkpoint: Path) -> list[dict]:
    """The training records of ``checkpoint`` and of every stage it was initialised from."""
    records = []
    current: Path | None = checkpoint
    while current is not None and (current / "config.json").is_file():
        provenance = json.loads((current / "config.json").read_text())["provenance"]
        training = provenance.get("training") or {}
        records.append(training)
        base = provenance.get("base_model")
        if base == DEFAULT_ALIAS:  # continued from the shipped default: its card lists its stages
            shipped = json.loads((BUNDLED_WEIGHTS_DIR / "config.json").read_text())["provenance"]["training"]
            return list(shipped["stages"]) + records[::-1]
        current = Path(base) if base and Path(base).is_dir() else None
    return records[::-1]


def machine() -> str:
    return f"{cpu_info()['model']}, {os.cpu_count()} cores, {platform.system()}, torch {torch.__version__}"


def ship(checkpoint: Path) -> int:
    source = repository_path(checkpoint)  # before the gate: a machine path is refused at once
    stylizer = sva.load_stylizer(str(checkpoint), device="cpu", dtype=torch.float32)
    stylizer.source = source  # load_stylizer records the resolved, absolute folder
    figures, grid = quality_default.evaluate(stylizer)
    verdict = quality_default.passes(figures)
    print(json.dumps({"figures": figures, "pass": verdict}, indent=2))
    if not all(verdict.values()):
        print("below the shipping bar: not shipped", file=sys.stderr)
        return 1
    stages = lineage(checkpoint)
    samples = sum(
        int(s["steps"]) * int(s["batch_size"]) * int(s.get("accumulate", 1)) * int(s.get("world_size", 1))
        for s in stages
    )
    today = datetime.date.today().isoformat()
    training = {
        "recipe": "benchmarks/train_default.py (synthetic-stain supervision, stages below)",
        "data": "training regions (left 75 %) of the five bundled histology sources (NOTICE); right 25 % held out",
        "samples_seen": samples,
        "stages": [{k: s.get(k) for k in ("steps", "batch_size", "lr", "objective", "pairing")} for s in stages],
        "trained_on": machine(),
        "date": today,
    }
    metrics = {
        **{k: round(v, 4) for k, v in figures.items()},
        "measured": (
            f"benchmarks/quality_default.py, {quality_default.CROP_SIZE}-px held-out crops, mode {stylizer.mode}, "
            f"{today}, {machine()}"
        ),
        "goals": quality_default.GOALS,
    }
    refuse_machine_paths(source=stylizer.source, training=training, metrics=metrics)
    save_pretrained(stylizer, BUNDLED_WEIGHTS_DIR, training=training, metrics=metrics, half=True)
    PREVIEW.parent.mkdir(exist_ok=True)
    grid.save(PREVIEW)
    print(f"shipped into {BUNDLED_WEIGHTS_DIR} ({samples} samples seen); preview grid {PREVIEW}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("stage", help="train one stage (resumes a killed one)")
    run.add_argument("run", type=Path)
    run.add_argument("--steps", type=int, default=6000)
    run.add_argument("--lr", type=float, default=4e-4)
    run.add_argument("--init", default=None, help="the previous stage's final/ folder (default: from scratch)")
    run.add_argument("--stain-weights", default="colour=0",
                     help="name=value pairs (see stylizing-vit-aug train --help)")
    run.add_argument("--stop-after", type=int, default=None, help="end this invocation after N steps (resume later)")
    run.add_argument("--without", default=None, metavar="SOURCE",
                     help="train on every bundled source but this one (a DG fold's strict stylizer)")
    early = commands.add_parser("export", help="export a stopped stage's last checkpoint as its final/ folder")
    early.add_argument("run", type=Path)
    out = commands.add_parser("ship", help="gate a checkpoint and write it into weights/ (fp16)")
    out.add_argument("checkpoint", type=Path)
    args = parser.parse_args(argv)
    if args.command == "stage":
        return stage(args.run, args.steps, args.lr, args.init, args.stain_weights, args.stop_after, args.without)
    if args.command == "export":
        return export(args.run)
    return ship(args.checkpoint)


if __name__ == "__main__":
    sys.exit(main())
