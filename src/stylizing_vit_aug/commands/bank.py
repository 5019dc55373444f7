"""``stylizing-vit-aug bank build|info``: make a style bank file, and say what one holds."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from .._words import counted
from ._exits import say, say_result
from .common import (
    EXIT_SKIPPED,
    CheckpointChoice,
    CLIError,
    add_checkpoint_arguments,
    add_on_error_argument,
    add_value_range_argument,
    draw_seed_argument,
    new_output_file,
    positive_int,
    skipped_kinds,
)

SAID_REASONS = 20  # reasons the closing line repeats of the files left out (300 made one 69.5 KB line)
EPILOG = """\
examples:
  # one domain per subfolder of train/ (train/scanner_a/*.png, train/scanner_b/*.png, ...)
  stylizing-vit-aug bank build train/ -o bank.safetensors --checkpoint tiny-camelyon17wilds

  # 8 random crops per image instead of resizing whole images, no domains
  stylizing-vit-aug bank build styles/ -o bank.safetensors --crops-per-image 8 --domains none

  stylizing-vit-aug bank info bank.safetensors
"""

BUILD_EPILOG = (
    EPILOG
    + f"""
A style file that cannot be read, or a folder under FOLDER that cannot be listed, is left out
with a warning naming it, and the exit code is {EXIT_SKIPPED} instead of 0 (--on-error stop: exit
code 2, no bank written). Warnings also name
byte-identical style files (each enters the bank), subfolders without images (no domain), style
images smaller than the model's input (enlarged) and files of other kinds left out (.gif ...).
The bank records each style's file (path under FOLDER, SHA-256 prefix): `bank info --sources`.
--value-range LOW,HIGH reads 16-bit style files on LOW-HIGH (e.g. 0,4095 for 12-bit data), as
stylize and preview read their inputs; one with values outside it is refused, never clipped, and
left out like an unreadable file (a warning naming it, exit code {EXIT_SKIPPED}; --on-error stop:
exit code 2). 8-bit style files keep 0-255.
"""
)
INFO_EPILOG = """\
examples:
  stylizing-vit-aug bank info bank.safetensors

  # the source file of every style (index, path, SHA-256 prefix)
  stylizing-vit-aug bank info bank.safetensors --sources

Reads only the file's header and metadata: no checkpoint is loaded. A style named by its index
(bank.safetensors#7 in a stylize record) is the file listed at index 7; the images digest is
StyleBank.images_digest of the bank as saved.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..option_choices import IMAGE_EXTENSIONS  # the one list of what a build reads (torch-free)

    formatter = parser.formatter_class
    actions = parser.add_subparsers(dest="bank_command", metavar="{build,info}", required=True)
    build = actions.add_parser(
        "build",
        help="encode a folder of style images into a bank file",
        description=f"Build a style bank from every {'/'.join(IMAGE_EXTENSIONS)} image under FOLDER and save it "
        "(images at model size + their encoded style streams, safetensors).",
        epilog=BUILD_EPILOG,
        formatter_class=formatter,
    )
    build.add_argument("folder", type=Path, help="folder of style images (recursive)")
    build.add_argument("-o", "--output", type=Path, required=True, help="bank file to write (.safetensors)")
    build.add_argument(
        "--domains",
        choices=("subfolders", "none"),
        default="subfolders",
        help="domain labels from top-level subfolder names (default; images directly in FOLDER "
        "form one more domain, named after FOLDER, as train's data does) or none",
    )
    build.add_argument(
        "--crops-per-image",
        type=positive_int,
        default=None,
        help="take this many random crops per image instead of resizing it whole",
    )
    build.add_argument(
        "--crop-size",
        type=positive_int,
        default=None,
        help="side in pixels of the style image of each square crop --crops-per-image N takes "
        "(at most the image's shorter side), resized to the model's input size; only with "
        "--crops-per-image (default: the model's input size)",
    )
    build.add_argument("--seed", type=draw_seed_argument, default=0, help="seed of the crops (default 0)")
    build.add_argument(
        "--stream-dtype",
        choices=("float32", "float16", "bfloat16"),
        default=None,
        help="dtype of the stored style streams (float16 halves the file)",
    )
    build.add_argument(
        "--no-streams", action="store_true", help="store only the images (smaller file; re-encoded when loaded)"
    )
    add_value_range_argument(build)
    add_on_error_argument(build)
    add_checkpoint_arguments(build)
    build.set_defaults(bank_run=run_build)
    info = actions.add_parser(
        "info",
        help="show what a bank file holds",
        description="Show what a bank file holds.",
        epilog=INFO_EPILOG,
        formatter_class=formatter,
    )
    info.add_argument("file", type=Path, help="a bank file written by `bank build` or StyleBank.save")
    info.add_argument("--sources", action="store_true", help="list the source file of every style")
    info.set_defaults(bank_run=run_info)


def run(args: argparse.Namespace) -> int:
    return args.bank_run(args)


def run_build(args: argparse.Namespace) -> int:
    """Every refusal that needs no folder first, then -o's folder made for the build."""
    choice = CheckpointChoice.from_args(args)
    choice.refuse_unread()  # before -o's folder is made or any style image is listed
    if not args.folder.is_dir():
        raise CLIError(f"style folder {args.folder} does not exist or is not a folder")
    if args.output.is_dir():  # before its name: a folder is the first thing wrong with it
        raise CLIError(f"-o {args.output} is a folder; name the bank file, e.g. -o {args.output / 'bank.safetensors'}")
    if args.output.suffix.lower() != ".safetensors":  # .SAFETENSORS, as save and load take it
        raise CLIError(f"the bank file name should end in .safetensors, got {args.output}")
    if args.crop_size is not None and args.crops_per_image is None:
        raise CLIError(
            f"--crop-size {args.crop_size} is the side of the crops --crops-per-image N takes; without it "
            "whole images are resized and --crop-size would be ignored: add --crops-per-image N, or "
            "leave --crop-size out"
        )
    if args.stream_dtype is not None and args.no_streams:
        raise CLIError(
            f"--stream-dtype {args.stream_dtype} is the dtype of the stored style streams, which --no-streams leaves "
            "out: drop one of them"
        )
    with new_output_file(args.output, "-o", "bank.safetensors"):  # its folder goes again if the build stops
        _refuse_replacing_other_tensors(args.output)  # once -o is known writable: that is said first
        return _build(args, choice)


def _refuse_replacing_other_tensors(output: Path) -> None:
    """-o naming a checkpoint's weights (or any safetensors file that is no bank) is refused before the build, as
    saving would refuse it after."""
    from ..bank.storage import check_bank_output

    try:
        check_bank_output(output)
    except FileExistsError as error:
        raise CLIError(str(error)) from None


def _build(args: argparse.Namespace, choice: CheckpointChoice) -> int:
    from ..bank import StyleBank
    from ..images import ImageReadError
    from ..images.value_range import declare_value_range

    stylizer = choice.load()
    with declare_value_range(args.value_range):  # the style files' 16-bit pixels, mapped from it to 0-1
        try:
            bank = StyleBank.from_folder(
                args.folder,
                stylizer,
                domains=None if args.domains == "none" else "subfolders",
                crops_per_image=args.crops_per_image,
                crop_size=args.crop_size,
                seed=args.seed,
                stream_dtype=args.stream_dtype,
                on_error=args.on_error,
            )
        except ImageReadError as error:  # on_error="stop": an unreadable file, or a folder it could not list
            if args.on_error != "stop":
                raise
            raise CLIError(f"{error} (stopped by --on-error stop; the default skips it)") from None
    bank.save(args.output, streams=not args.no_streams)
    if bank.skipped:  # stderr first, the stdout line last (a reader that left stdout costs no message)
        reasons = [reason.rstrip(".") for _, reason in bank.skipped[:SAID_REASONS]]  # each was warned above
        unsaid = len(bank.skipped) - len(reasons)
        more = f"; and {unsaid} more (warned above)" if unsaid else ""
        say(f"{skipped_kinds(bank.skipped)} and were left out: {'; '.join(reasons)}{more}; exit code {EXIT_SKIPPED}")
    code = EXIT_SKIPPED if bank.skipped else 0
    say_result(
        f"wrote {args.output}: {counted(len(bank), 'style')}"
        + (f" in {counted(len(bank.domain_names), 'domain')}" if bank.domains else "")
        + f", {_size(args.output.stat().st_size)}",
        code,
    )
    return code


def run_info(args: argparse.Namespace) -> int:
    from ..bank.storage import read_bank_info

    try:
        info = read_bank_info(args.file, "bank info")  # a BankFileError names the file and what is wrong
    except OSError as error:  # a folder, a named pipe: a usage error (exit 2), as a missing file is
        raise CLIError(str(error)) from None
    count, channels, height, width = info["images"]
    print(f"file:        {args.file} ({args.file.stat().st_size / 1e6:.1f} MB, format version {info['version']})")
    print(f"styles:      {count} images of {channels}x{height}x{width}")
    print(f"checkpoint:  {info['source']} (revision {info['revision']}, fingerprint {info['fingerprint']})")
    print(f"model:       {', '.join(f'{k}={v}' for k, v in info['config'].items())}")
    if info["settings"]:  # what a front-end given this file loads its stylizer with (files since 2026-12-02)
        print(f"settings:    {', '.join(f'{k}={v}' for k, v in info['settings'].items())}")
    if info["streams"] is not None:
        print(
            f"streams:     stored, shape {info['streams']} ({info['stream_dtype'] or 'float32'}): "
            "loading with the same checkpoint skips encoding (their values are checked then, not here)"
        )
    else:
        print("streams:     not stored (encoded when loaded)")
    if info["domains"]:
        counts = Counter(info["domains"])
        print(f"domains:     {len(counts)}: " + ", ".join(f"{name} ({n})" for name, n in sorted(counts.items())))
    else:
        print("domains:     none")
    _print_sources(info, args.sources)
    return 0


def _print_sources(info: dict, every: bool) -> None:
    """The images digest and where the styles came from: a summary, or every style with ``every``."""
    from ..bank.sources import describe

    print(
        f"images:      digest {info['images_sha256']} (StyleBank.images_digest)"
        if info["images_sha256"]
        else "images:      no digest recorded (saved before it was; StyleBank.images_digest computes it)"
    )
    sources = info["sources"]
    if sources is None:
        print("sources:     not recorded (a bank saved before they were, or built from images in memory)")
        return
    files = {source for source in sources if source is not None}
    print(
        f"sources:     {len(files)} file(s) for {sum(s is not None for s in sources)} of {len(sources)} styles"
        + ("" if every else f", e.g. #0 {describe(sources[0])}; --sources lists every style")
    )
    if every:
        for index, source in enumerate(sources):
            print(f"  #{index}  {describe(source)}")


def _size(size: int) -> str:
    """A file's size for a person: MB where it has some, else kB (a small bank said "0.0 MB")."""
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
