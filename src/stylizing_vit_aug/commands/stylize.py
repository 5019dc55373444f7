"""``stylizing-vit-aug stylize``: a folder in, a folder out, resumable, with a record of styles.

Each input's style is a function of ``--seed`` and the input's relative path alone (not of the
order or of what already ran), so a killed run continues where it stopped and gives exactly the
files an uninterrupted run gives. Outputs are written through a temporary file and
``os.replace``; the CSV record is appended and flushed row by row, and on every start rows of
missing outputs and duplicates are dropped, and rows for finished outputs are restored.

A file that cannot be read (input or style) never sinks the run: with ``--on-error skip`` (the
default) it gets a CSV row with the reason in ``error`` and a warning on stderr, every readable
image is still written, and the exit code is :data:`~.common.EXIT_SKIPPED`; a rerun retries it.
``--on-error stop`` writes what was read before it and exits with code 2.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ..images import ImageReadError, read_image
from .common import (
    EXIT_SKIPPED,
    PIL_FORMATS,
    CLIError,
    add_checkpoint_arguments,
    add_on_error_argument,
    list_images,
    load_stylizer_from_args,
    positive_int,
    remove_stale_temporaries,
    unit_float,
    write_image_atomic,
)

logger = logging.getLogger(__name__)

LOG_NAME = "stylize_log.csv"
FIELDS = ("input", "output", "style", "style_index", "domain", "strength", "seed", "checkpoint", "revision", "error")

EPILOG = f"""\
examples:
  # every image of slides/ in the style of one reference tile
  stylizing-vit-aug stylize slides/ -o styled/ --style reference.png --checkpoint tiny-camelyon17wilds

  # a random style per image from a saved bank (see `stylizing-vit-aug bank build`)
  stylizing-vit-aug stylize slides/ -o styled/ --bank bank.safetensors --seed 1

  # a random style per image from a folder of style images, half strength, PNG output
  stylizing-vit-aug stylize slides/ -o styled/ --styles-dir styles/ --strength 0.5 --ext png

Interrupted? Run the same command again: finished images are skipped, nothing is half-written,
and OUTPUT/stylize_log.csv records which style made each output (one row per output).

A file that cannot be read is skipped (a CSV row with the reason in "error", a warning on
stderr), every other image is written, and the exit code is {EXIT_SKIPPED} instead of 0; rerunning retries
it. 16-bit PNG/TIFF inputs are written back as 16-bit; --strength 0 gives back the pixels exactly.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="folder of images (searched recursively) or one image")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder (mirrors the input tree)")
    styles = parser.add_mutually_exclusive_group(required=True)
    styles.add_argument("--style", type=Path, help="one style image for every input")
    styles.add_argument("--bank", type=Path, help="a bank file: a random style of it per input")
    styles.add_argument("--styles-dir", type=Path, help="a folder of style images: a random one per input")
    parser.add_argument("--strength", type=unit_float, default=1.0, help="0 = unchanged, 1 = full style (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-image style choice (default 0)")
    parser.add_argument("--batch-size", type=positive_int, default=8, help="images of one size per model call (default 8)")
    parser.add_argument("--ext", choices=("keep", *sorted({k.lstrip('.') for k in PIL_FORMATS})), default="keep",
                        help="output format (default: keep the input's)")
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    parser.add_argument("--log", type=Path, default=None, help=f"CSV record (default: OUTPUT/{LOG_NAME})")
    parser.add_argument("--overwrite", action="store_true", help="redo outputs that already exist")
    add_on_error_argument(parser)
    add_checkpoint_arguments(parser)


@dataclass
class StyleChoice:
    label: str
    index: int
    domain: str


class StyleSource:
    """The styles of a run and the deterministic per-input choice among them."""

    def __init__(self, args: argparse.Namespace, stylizer: Any) -> None:
        from ..bank import StyleBank

        self.stylizer = stylizer
        self.labels: list[str]
        self.skipped: list[tuple[Path, str]] = []  # unreadable style files
        if args.style is not None:
            path = args.style
            if not path.is_file():
                raise CLIError(f"style image {path} does not exist")
            self.bank = StyleBank.from_images([read_image(path)], stylizer, encode=True)
            self.labels = [str(path)]
        elif args.bank is not None:
            if not args.bank.is_file():
                raise CLIError(f"bank file {args.bank} does not exist; build one with `stylizing-vit-aug bank build`")
            self.bank = StyleBank.load(args.bank, stylizer, on_mismatch="reencode")
            self.labels = [f"{args.bank}#{i}" for i in range(len(self.bank))]
        else:
            paths = list_images(args.styles_dir, "style folder")
            self.bank = StyleBank.from_images(paths, stylizer, encode=False, on_error=args.on_error)
            self.skipped = self.bank.skipped
            unread = {path for path, _ in self.skipped}
            self.labels = [str(p) for p in paths if p not in unread]
        self.seed = args.seed

    def choose(self, relative: str) -> StyleChoice:
        if len(self.bank) == 1:
            index = 0
        else:
            generator = torch.Generator().manual_seed(zlib.crc32(f"{self.seed}:{relative}".encode()))
            index = int(self.bank.sample(1, generator=generator)[0])
        domains = self.bank.domains
        return StyleChoice(self.labels[index], index, domains[index] if domains else "")


def _read_log(path: Path) -> dict[str, dict[str, str]]:
    """Complete rows by output (last wins; rows of unreadable style files by style); a torn
    last line from a kill is ignored."""
    rows: dict[str, dict[str, str]] = {}
    if not path.is_file():
        return rows
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if all(row.get(field) is not None for field in FIELDS) and None not in row:
                rows[row["output"] or f"style:{row['style']}"] = row
    return rows


def _write_log(path: Path, rows: list[dict[str, str]]) -> None:
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


class LogWriter:
    """Appends one row per finished output, flushed to disk before the next image starts."""

    def __init__(self, path: Path) -> None:
        self.handle = open(path, "a", newline="")
        self.writer = csv.DictWriter(self.handle, fieldnames=FIELDS)

    def write(self, row: dict[str, str]) -> None:
        self.writer.writerow(row)
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def close(self) -> None:
        self.handle.close()


def _output_path(args: argparse.Namespace, relative: Path) -> Path:
    suffix = relative.suffix if args.ext == "keep" else f".{args.ext}"
    return args.output / relative.with_suffix(suffix)


Planned = tuple[Path, Path, StyleChoice]  # input, output, style


def _read_batches(
    todo: list[Planned], size: int, stop: bool, skip: Callable[[Planned, ImageReadError], None]
) -> Iterator[list[tuple[Planned, np.ndarray]]]:
    """Consecutive inputs read once, in batches of at most ``size`` of one shape and dtype.

    A file that cannot be read goes to ``skip``; with ``stop``, the batch read before it is
    still given out (and written), then its error is raised.
    """
    batch: list[tuple[Planned, np.ndarray]] = []
    for item in todo:
        try:
            pixels = read_image(item[0])
        except ImageReadError as error:
            if stop:
                if batch:
                    yield batch
                raise CLIError(f"{error} (stopped by --on-error stop; the default skips it)") from None
            skip(item, error)
            continue
        first = batch[0][1] if batch else None
        if first is not None and (len(batch) == size or pixels.shape != first.shape or pixels.dtype != first.dtype):
            yield batch
            batch = []
        batch.append((item, pixels))
    if batch:
        yield batch


def run(args: argparse.Namespace) -> int:
    """Stylise the folder (see the module docstring for how it resumes and skips)."""
    inputs = list_images(args.input)
    root = args.input if args.input.is_dir() else args.input.parent
    output = args.output.resolve()
    if output == root.resolve() or root.resolve() in output.parents:
        raise CLIError(f"the output folder {args.output} must not be the input folder or inside it")
    if not 0 <= args.quality <= 100:
        raise CLIError(f"--quality must lie in 0..100, got {args.quality}")
    args.output.mkdir(parents=True, exist_ok=True)
    log_path = args.log or args.output / LOG_NAME
    removed = remove_stale_temporaries(args.output)
    if removed:
        logger.info("removed %d partial file(s) left by an interrupted run", removed)

    stylizer = load_stylizer_from_args(args)
    styles = StyleSource(args, stylizer)

    def row_for(path: Path, out: Path, choice: StyleChoice) -> dict[str, str]:
        return {
            "input": str(path.relative_to(root)), "output": str(out.relative_to(args.output)),
            "style": choice.label, "style_index": str(choice.index), "domain": choice.domain,
            "strength": f"{args.strength:g}", "seed": str(args.seed),
            "checkpoint": str(stylizer.source), "revision": str(stylizer.revision or ""), "error": "",
        }

    def error_row(error: ImageReadError, **fields: str) -> dict[str, str]:
        return {**dict.fromkeys(FIELDS, ""), **fields, "error": str(error)}

    plan = []
    for path in inputs:
        relative = path.relative_to(root)
        plan.append((path, _output_path(args, relative), styles.choose(relative.as_posix())))
    outputs = [out for _, out, _ in plan]
    if len(set(outputs)) != len(outputs):
        raise CLIError("two inputs map to the same output name (e.g. a.png and a.jpg with --ext); use --ext keep")

    # Reconcile the record with what is on disk: one row per existing output, nothing else.
    logged = _read_log(log_path)
    rows, todo = [], []
    for path, out, choice in plan:
        key = str(out.relative_to(args.output))
        if out.is_file() and not args.overwrite:
            rows.append(logged.get(key) or row_for(path, out, choice))
        else:
            todo.append((path, out, choice))
    keep = set(str(o.relative_to(args.output)) for _, o, _ in plan)
    rows += [row for key, row in logged.items() if key not in keep and (args.output / key).is_file()]
    _write_log(log_path, rows)
    skipped = len(plan) - len(todo)
    if skipped:
        print(f"{skipped} of {len(plan)} outputs already exist; stylising the other {len(todo)}")

    writer = LogWriter(log_path)
    unreadable = [error_row(reason, style=str(path)) for path, reason in styles.skipped]
    for row in unreadable:
        writer.write(row)
    written = 0
    try:
        with tqdm(total=len(todo), desc="stylize", unit="img") as progress:

            def skip(item: Planned, error: ImageReadError) -> None:
                path, out, _ = item
                logger.warning("skipped %s", error)
                unreadable.append(error_row(error, input=str(path.relative_to(root)), output=str(out.relative_to(args.output))))
                writer.write(unreadable[-1])
                progress.update(1)

            for batch in _read_batches(todo, args.batch_size, args.on_error == "stop", skip):
                stream = styles.bank.stream(torch.tensor([choice.index for (_, _, choice), _ in batch]))
                results = stylizer([pixels for _, pixels in batch], stream, strength=args.strength)
                for ((path, out, choice), _), result in zip(batch, results):
                    write_image_atomic(result, out, quality=args.quality)
                    writer.write(row_for(path, out, choice))
                    written += 1
                    progress.update(1)
    finally:
        writer.close()
    if args.overwrite:
        final = _read_log(log_path)
        _write_log(log_path, list(final.values()))
    print(f"wrote {written} image(s) to {args.output}; record: {log_path}")
    if unreadable:
        print(
            f"{len(unreadable)} file(s) could not be read and were skipped (their reasons are in the "
            f"'error' column of {log_path}); exit code {EXIT_SKIPPED}",
            file=sys.stderr,
        )
        return EXIT_SKIPPED
    return 0
