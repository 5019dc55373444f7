"""``stylizing-vit-aug app``: the look-before-you-train page, served locally (Gradio)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .._signals import Terminated, sigterm_raises, terminated
from ..option_choices import CACHE_AGE_S, MAX_FOLDER_IMAGES
from ._output_paths import refuse_looping_links
from .common import (
    CLIError,
    add_cell_size,
    add_checkpoint_arguments,
    bank_path_refusal,
    load_stylizer_from_args,
)

logger = logging.getLogger(__name__)

EPILOG = f"""\
examples:
  stylizing-vit-aug app                       # the bundled default, http://127.0.0.1:7860
  stylizing-vit-aug app --checkpoint tiny-camelyon17wilds --bank bank.safetensors
  stylizing-vit-aug app --checkpoint runs/my-finetune --styles-dir styles/ --port 8080
  stylizing-vit-aug app --host 0.0.0.0        # reachable from other machines too
  stylizing-vit-aug app --allow-path /data/styles --allow-path /data/banks

Needs the `app` extra: pip install ".[app]" in a clone (or pip install 'gradio>=5'). The page shows the chosen content
images (the bundled histology by default) in the chosen styles with anatomy SSIM and style
distance under each cell, and the StylizeTransform(...) line with the settings on the page.
Stop it with Ctrl-C.

A bank file or style folder typed on the page must lie in the folder the app was started in,
in --bank / --styles-dir, or in an --allow-path: anyone who reaches the page (see --host) can
look at those images, and nothing else. At most {MAX_FOLDER_IMAGES} images of a folder are read.
Uploads, grids and downloads are deleted from the server {CACHE_AGE_S // 60} minutes after they are
made, and all of them when the page stops (Ctrl-C, or SIGTERM from a service manager).
"""


def port_number(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number 1-65535, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (default 127.0.0.1: this machine only; 0.0.0.0: every interface)")
    parser.add_argument("--port", type=port_number, default=None,
                        help="port (default: 7860, or the next free one)")
    parser.add_argument("--share", action="store_true",
                        help="also open a temporary public link through Gradio's share servers (off by default)")
    styles = parser.add_mutually_exclusive_group()
    styles.add_argument("--bank", type=Path, help="start with the styles of this bank file")
    styles.add_argument("--styles-dir", type=Path, help="start with the styles of this folder")
    parser.add_argument("--allow-path", type=Path, action="append", default=[], metavar="PATH",
                        help="a folder (or file) whose banks and style images the page may read, besides the "
                        "working folder (repeatable)")
    add_cell_size(parser)
    add_checkpoint_arguments(parser, bank=True)


def _refuse_unusable_styles(args: argparse.Namespace) -> None:
    """A --bank that is no bank file (a folder, a file of other bytes) or a --styles-dir that is no folder,
    refused before the model loads: else the page serves, and fails for every visitor who opens it."""
    if args.bank is not None:
        from ..bank.storage import read_bank_info

        if refusal := bank_path_refusal(args.bank, "app --bank"):  # (the command line said it before torch)
            raise CLIError(refusal)
        try:
            read_bank_info(args.bank, "app --bank")  # its header alone
        except (OSError, ValueError) as error:
            raise CLIError(str(error)) from None
    if args.styles_dir is not None and not args.styles_dir.is_dir():
        raise CLIError(f"style folder {args.styles_dir} is not a folder; --styles-dir takes a folder of style images "
                       "(one image: upload it on the page, or pass its folder)")


def run(args: argparse.Namespace) -> int:
    try:
        from ..app import build_app, import_gradio

        import_gradio()
    except ImportError as error:
        raise CLIError(str(error)) from None
    given = [(args.styles_dir, "style folder")]
    given += [(path, "--allow-path") for path in args.allow_path]
    refuse_looping_links(*((what, path) for path, what in given))  # else "does not exist", of a link that is there
    for path, what in given:
        if path is not None and not path.exists():
            raise CLIError(f"{what} {path} does not exist")
    _refuse_unusable_styles(args)
    stylizer = load_stylizer_from_args(args)
    page = build_app(
        stylizer,
        bank=str(args.bank) if args.bank else None,
        styles_dir=str(args.styles_dir) if args.styles_dir else None,
        cell_size=args.cell_size,
        allow_paths=args.allow_path,
    )
    logger.info("serving %s on %s:%s", stylizer.source, args.host, args.port or "7860+")
    # quiet: Gradio's own start-up lines tell a script author to "set share=True in launch()";
    # this command's users have --share instead
    page.launch(server_name=args.host, server_port=args.port, share=args.share, inbrowser=False,
                quiet=True, prevent_thread_lock=True)
    print(f"* Running on local URL:  {page.local_url}", flush=True)
    if not args.share:
        print("* For a temporary public link, run again with --share.", flush=True)
    # SIGTERM (a service manager, docker stop) stops the page as Ctrl-C does: Gradio closes the server, deleting
    # the visitors' uploads and grids, and the process exits, removing the page's own temporary folder
    with sigterm_raises(Terminated):
        page.block_thread()  # Gradio catches the interrupt, closes the server and returns
        if stop := terminated():
            raise stop  # said and exited as every command's SIGTERM (143), not 0
    return 0


