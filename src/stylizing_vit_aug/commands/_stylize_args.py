"""``stylizing-vit-aug stylize``'s command line: its help and options, torch-free, so ``stylize --help`` and a
usage error answer without loading torch (0.4 s instead of 4 s); the run is :mod:`.stylize`'s."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..option_choices import COMPILE_MODES, DEFAULT_QUALITY
from .common import (
    EXIT_SKIPPED,
    PIL_FORMATS,
    add_checkpoint_arguments,
    add_on_error_argument,
    add_value_range_argument,
    positive_int,
    seed_argument,
    unit_float,
)

COLOUR_REFERENCES = ("image", "folder")
"""``--colour-reference``: what the colour step maps each input from (its default first)."""
REFERENCE_SAMPLE = 64
"""Most inputs of a folder its colour reference is read from (``--colour-reference folder``), evenly spread over
its inputs: enough to cover a slide's kinds of tissue, one pass of the network over them."""
LOG_NAME = "stylize_log.csv"
"""The record's file name in the output folder (``--log`` names another)."""

EPILOG = f"""\
examples:
  # every image of slides/ in the style of one reference tile
  stylizing-vit-aug stylize slides/ -o styled/ --style ref.png --checkpoint tiny-camelyon17wilds

  # a random style per image from a saved bank (see `stylizing-vit-aug bank build`)
  stylizing-vit-aug stylize slides/ -o styled/ --bank bank.safetensors --seed 1

  # a random style per image from a folder of style images, half strength, PNG output
  stylizing-vit-aug stylize slides/ -o styled/ --styles-dir styles/ --strength 0.5 --ext png

  # tiles of whole slides, a folder per slide: each slide's tiles mapped from one colour reference
  stylizing-vit-aug stylize tiles/ -o styled/ --style ref.png --colour-reference folder

  # three copies per image in three different styles: img.s0.png, img.s1.png, img.s2.png
  stylizing-vit-aug stylize slides/ -o styled/ --bank bank.safetensors --styles-per-image 3

  # every GPU of 2 nodes (start it on each node; one output folder on a shared file system)
  torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 \\
      -m stylizing_vit_aug.cli stylize slides/ -o styled/ --bank bank.safetensors

Interrupted? Run the same command again: finished images are skipped, nothing is half-written,
and OUTPUT/stylize_log.csv records which style made each output (one row per output). The same
holds for a relaunch under torchrun / accelerate launch with any number of processes.
A rerun with other settings (--strength, --seed, the styles or their pixels, the checkpoint or
its weights, --mode, --mean/--std, --value-range, --quality, --colour-reference) keeps the existing outputs and
warns, naming the settings that differ; pass --overwrite (or a fresh -o folder) to redo them. The record has a
column for each of them.
An existing output the record has no row for (the record was deleted, or --log points elsewhere)
is recorded with style, strength and seed left empty: they are unknown, never guessed.
An input changed since its output was made (other bytes: the record's input_sha256) gets its
output made again, with a warning (the old output and its row stay until then, and stay if the
input cannot be read now); a rerun reads only the inputs whose size or modification time
changed (input_stat) to tell. Outputs of a record from before those columns are kept, said once.
An output made again (--overwrite, a changed input) replaces the old file only once the new one is
written whole: a run killed meanwhile leaves the old file with its row, or the new file with its row.

A file that cannot be read, or an output that cannot be written (full disk), is skipped (a CSV
row with the reason in "error", a warning on stderr, no partial file), every other image is
written, and the exit code is {EXIT_SKIPPED} instead of 0; rerunning retries it. A folder under the
input that cannot be listed (no permission), and a file whose name is not UTF-8, are skipped too
(exit code {EXIT_SKIPPED}; --on-error stop: exit code 2) but get no row: the record holds a row per
output, named in UTF-8, and neither has an output it could name (a folder's files are unknown; the
name cannot be stored as it is, and an escaped one would name no file). Each is named in a warning
on stderr, and the end of the run counts them ("1 folder(s) could not be listed"). An output
removed while the run went is not counted as written: it gets a row with the reason, and the exit
code is {EXIT_SKIPPED}. If the run ends with no
output at all (every input unreadable, none made before), the exit code is 2, and no folder or record
this run made is left behind; outputs of an earlier run still there (with --overwrite too) make it
{EXIT_SKIPPED}. A full disk (or quota)
stops the run at the first output it cannot write (the rest would fail too): each output not made
gets its row, the message names the folder and its free space, the exit code is {EXIT_SKIPPED}, and
rerunning once space is freed writes the rest. If every output is written but the record cannot
be finished (rewritten in input order at the end), the exit code is 2, naming the record and why:
its rows stay as appended and rerunning completes it. A second run into the
same folder while one is running refuses with exit code 2.
16-bit PNG/TIFF inputs are written back as 16-bit; --strength 0 gives back the pixels exactly.
12-bit data in 16-bit files: --value-range 0,4095 reads them on 0-4095 (not nearly black) and
writes the outputs back in 0-4095; an input with values outside the range, or an 8-bit input, is
skipped and recorded like an unreadable one.
"""


class _OneStyleChecked(argparse.Action):
    """Store the value, then refuse ``--colour-reference folder`` beside ``--bank`` or ``--styles-dir``, whichever
    comes first: argparse has no check after parsing, and here it costs no torch import (a usage error, exit 2)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        if getattr(namespace, "colour_reference", None) != "folder":
            return
        for option, dest in (("--bank", "bank"), ("--styles-dir", "styles_dir")):
            if getattr(namespace, dest, None) is not None:
                parser.error(f"--colour-reference folder needs --style: a slide's tiles share one style and one "
                             f"colour reference ({option} draws a style per image)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="folder of images (searched recursively) or one image")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="output folder (mirrors the input tree), also for one input image",
    )
    styles = parser.add_mutually_exclusive_group(required=True)
    styles.add_argument(
        "--style",
        type=Path,
        help="one style image for every input, used as read (the pixels "
        "stylizer(image, style) gives, 16-bit styles included)",
    )
    for option, help_text in (("--bank", "a bank file: a random style of it per input"),
                              ("--styles-dir", "a folder of style images: a random one per input, never the input "
                               "itself")):
        styles.add_argument(option, type=Path, action=_OneStyleChecked, help=help_text)
    parser.add_argument(
        "--colour-reference",
        choices=COLOUR_REFERENCES,
        default=COLOUR_REFERENCES[0],
        action=_OneStyleChecked,
        help="what the colour step maps each image from: image: its own colours (default); folder: the images "
        "directly in one folder are tiles of one slide, all mapped from one colour profile of the slide (read "
        f"from up to {REFERENCE_SAMPLE} of them, evenly spread), so a dense tile and a pale one keep their difference. "
        "Needs --style and the colour step",
    )
    _add_run_arguments(parser)
    add_value_range_argument(parser)
    add_on_error_argument(parser)
    add_checkpoint_arguments(parser, bank=True)


def _add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """What each output is and how the run writes it: strength, seed, copies, batches, format, record, compile."""
    parser.add_argument("--strength", type=unit_float, default=1.0, help="0 = unchanged, 1 = full style (default 1)")
    parser.add_argument("--seed", type=seed_argument, default=0, help="seed of the per-image style choice (default 0)")
    parser.add_argument(
        "--styles-per-image",
        type=positive_int,
        default=1,
        metavar="K",
        help="K > 1 writes K copies of each input, NAME.s0.EXT ... NAME.s{K-1}.EXT, each in a "
        "different style (needs at least K styles; default 1: NAME.EXT)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        help="images per model call, of any sizes (one size with --compile; default 8)",
    )
    parser.add_argument(
        "--ext",
        choices=("keep", *sorted({k.lstrip(".") for k in PIL_FORMATS})),
        default="keep",
        help="output format (default: keep the input's)",
    )
    parser.add_argument("--quality", type=int, default=None,
                        help=f"JPEG and lossy WebP quality (default {DEFAULT_QUALITY})")
    parser.add_argument("--log", type=Path, default=None,
                        help=f"CSV record file (default: OUTPUT/{LOG_NAME}), of one output folder")
    parser.add_argument("--overwrite", action="store_true", help="redo outputs that already exist")
    parser.add_argument(
        "--compile",
        default=False,
        choices=COMPILE_MODES,
        metavar="MODE",
        help="run the stylizer compiled in this torch.compile mode (default, or reduce-overhead: CUDA "
        f"graphs; one of {', '.join(COMPILE_MODES)}). The first batch of each image size compiles "
        "for about a minute: it pays on long runs of one size",
    )
