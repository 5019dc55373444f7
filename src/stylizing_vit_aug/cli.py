"""The ``stylizing-vit-aug`` command line (also ``python -m stylizing_vit_aug.cli``).

Subcommands live in :mod:`stylizing_vit_aug.commands`, one module each, registered in
:data:`COMMANDS`; only the module of the command being run is imported. Exit codes:
0 success, 1 a runtime failure (a broken installation too: :func:`broken_install`), 2 a usage or
input error, a run with no readable input included (message on stderr, no traceback; ``-vv`` adds
the traceback to the log), 3 (:data:`EXIT_SKIPPED`) finished but some files could not be read and
were skipped (``stylize``, ``bank build``, ``preview``), 4 ``train`` stopped at a NaN/Inf loss or
gradient, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import textwrap
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from . import __version__

logger = logging.getLogger("stylizing_vit_aug.cli")

PROG = "stylizing-vit-aug"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written, but their prose filled to the terminal's width (as
    argparse fills an option's help): a line that starts at the margin joins its paragraph,
    while indented lines (examples, a command continued with a backslash) stay as written, so
    they can be copied into a shell whatever the width."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines: list[str] = []
        paragraph: list[str] = []
        for line in [*text.splitlines(), ""]:
            if line.strip() and not line[0].isspace():
                paragraph.append(line.strip())
                continue
            if paragraph:
                lines += textwrap.wrap(" ".join(paragraph), width, initial_indent=indent, subsequent_indent=indent,
                                       break_long_words=False, break_on_hyphens=False)
                paragraph = []
            lines.append(indent + line)
        return "\n".join(lines[:-1])


FORMATTER = HelpFormatter

DESCRIPTION = "Anatomy-preserving style augmentation with a pretrained Stylizing ViT."

EPILOG = """\
examples:
  stylizing-vit-aug demo --checkpoint tiny-camelyon17wilds
  stylizing-vit-aug stylize slides/ -o styled/ --bank bank.safetensors
  stylizing-vit-aug bank build train/ -o bank.safetensors --checkpoint tiny-camelyon17wilds
  accelerate launch -m stylizing_vit_aug.cli train --help

`stylizing-vit-aug COMMAND --help` shows each command's options and examples.

Exit codes: 0 done, 1 runtime failure, 2 usage or input error (also: no input could be read),
{exit_skipped} done but some unreadable files were skipped or planned outputs are missing (stylize,
bank build, preview), 4 train stopped at a NaN/Inf loss or gradient, 130 interrupted.
"""

class Command(NamedTuple):
    """One subcommand: its module in :mod:`stylizing_vit_aug.commands` (which has ``EPILOG``,
    ``add_arguments(parser)`` and ``run(args)``), its line in ``--help`` and its description."""

    module: str
    help: str
    description: str


# The one registration table: a command is its module plus one entry here. `--help` lists the
# commands from it, once, and the docs' CLI reference walks it; only the module of the command
# being run is imported.
COMMANDS: dict[str, Command] = {
    "demo": Command(
        "demo", "stylise the bundled sample images into a labelled grid and print quality figures",
        "Stylise the bundled histology samples into a labelled content x style grid PNG and "
        "print anatomy-preservation and style-match figures.",
    ),
    "stylize": Command(
        "stylize", "a folder of images in, a stylised folder out (resumable, records the styles)",
        "Stylise every image of a folder (recursively) into an output folder.",
    ),
    "preview": Command(
        "preview", "a labelled content x style grid from folders or a bank file",
        "Render a labelled grid of content images in several styles.",
    ),
    "bank": Command(
        "bank", "build a style bank file from a folder, or inspect one",
        "Build a style bank file from a folder of style images, or inspect one.",
    ),
    "train": Command(
        "train", "fine-tune a stylizer on your own domains (also under `accelerate launch`)",
        "Fine-tune a stylizer on your own domains.",
    ),
    "bench": Command(
        "bench", "throughput against the published reference implementation",
        "Benchmark stylisation throughput against the published reference implementation.",
    ),
    "app": Command(
        "app", "a local web page: your images in your styles, with the figures (needs the app extra)",
        "Serve a web page (Gradio) that shows content images in chosen styles with the quality "
        "figures, and the StylizeTransform(...) line with those settings.",
    ),
}


def _add_verbose(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="more log output (-v info, -vv debug with tracebacks)")


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first token that is not a top-level option)."""
    for token in argv:
        if not token.startswith("-"):
            return token
    return None


def _attach(sub: argparse.ArgumentParser, name: str) -> None:
    """Arguments and handler of ``name`` from its module; if it cannot be imported, say why on use:
    an optional dependency missing, or (:func:`broken_install`) the package's own files broken."""
    try:
        module = importlib.import_module(f"stylizing_vit_aug.commands.{COMMANDS[name].module}")
    except Exception as error:  # noqa: BLE001 - whatever an import raises, said once when the command runs
        cause = error
        reason = broken_install(error) or f"`{name}` is not available in this installation ({error})"
        sub.description = f"{sub.description} Not available here: {reason}."

        def unavailable(args: argparse.Namespace) -> int:
            raise _Unavailable(reason) from cause  # the import's traceback with -vv

        # its options are unknown here: whatever follows the command is left to this message (see _run)
        sub.set_defaults(cli_handler=unavailable, cli_unavailable=True)
        return
    sub.epilog = module.EPILOG
    module.add_arguments(sub)
    sub.set_defaults(cli_handler=module.run)


class _Unavailable(Exception):
    """A command this installation cannot run (exit 1, the message alone)."""


_PACKAGE = Path(__file__).resolve().parent


def broken_install(error: BaseException) -> str | None:
    """What to say when ``error`` shows that this installation's own files are broken, or None: a
    file of the package that does not compile, a module or name of the package that is not there,
    or another error raised while one of its modules was being imported. (A missing optional
    dependency is not: that is an ``ImportError`` naming another package.) One message with the
    underlying error and where it happened, and the way out: reinstall."""
    said = str(error)
    if isinstance(error, ImportError):  # its message names the module, and the file where it has one
        where = "" if (error.name or "").startswith("stylizing_vit_aug") else None
    elif isinstance(error, SyntaxError):
        where = f"{error.filename}, line {error.lineno}" if _in_package(error.filename or "") else None
        said = error.msg
    else:  # raised by a module of the package while it was imported (its top level ran)
        frames = [frame for frame in traceback.extract_tb(error.__traceback__) if _in_package(frame.filename)]
        importing = any(frame.name == "<module>" for frame in frames)
        where = f"{frames[-1].filename}, line {frames[-1].lineno}" if importing else None
    if where is None:
        return None
    return (
        f"this installation of {PROG} {__version__} is broken: {type(error).__name__}: {said}"
        f"{f' ({where})' if where else ''}; reinstall it (pip install --force-reinstall {PROG}, or "
        "pip install -e . again in a source checkout)"
    )


def _in_package(filename: str) -> bool:
    return _PACKAGE in Path(filename).resolve().parents


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The full parser; a command's module is imported only when ``argv`` names it."""
    from .commands.common import EXIT_SKIPPED

    epilog = EPILOG.format(exit_skipped=EXIT_SKIPPED)
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION, epilog=epilog, formatter_class=FORMATTER)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_verbose(parser, 0)
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND", required=True)
    wanted = _command_of(argv)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(
            name, help=command.help, description=command.description, formatter_class=FORMATTER
        )
        _add_verbose(sub, argparse.SUPPRESS)
        if name == wanted:
            _attach(sub, name)
    return parser


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)


def _fail(command: str | None, message: str, code: int) -> int:
    where = f"{PROG} {command}" if command else PROG
    print(f"{where}: error: {message}", file=sys.stderr)
    logger.debug("traceback", exc_info=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it).

    Ctrl-C anywhere, including while a command's module imports torch, exits 130 with one line.
    That is why this module imports nothing heavy at its top: the console script imports it
    before any handler runs.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _run(argv)
    except KeyboardInterrupt:
        command = _command_of(argv)
        print(f"{PROG} {command}: interrupted" if command else f"{PROG}: interrupted", file=sys.stderr)
        return 130


def __getattr__(name: str) -> object:
    """``cli.EXIT_SKIPPED``, imported on first use: the entry point loads no command code until
    a command runs or the full parser is built (see :func:`main`)."""
    if name == "EXIT_SKIPPED":
        from .commands.common import EXIT_SKIPPED

        return EXIT_SKIPPED
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _run(argv: list[str]) -> int:
    try:
        parser = build_parser(argv)
        from .commands.common import joined_number_lists

        args, extra = parser.parse_known_args(joined_number_lists(argv))
        if extra and not getattr(args, "cli_unavailable", False):  # as parse_args, but for a command not loaded
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exit:  # --help, --version, or a usage error already printed by argparse
        return int(exit.code or 0) if not isinstance(exit.code, str) else 2
    except Exception as error:  # the modules every command needs do not import: say why, once
        if broken := broken_install(error):
            return _fail(_command_of(argv), broken, 1)
        raise
    _configure_logging(args.verbose)
    from .commands._exits import failure

    command = " ".join(filter(None, (args.command, getattr(args, "bank_command", None))))  # e.g. "bank build"
    try:
        from tqdm.contrib.logging import logging_redirect_tqdm

        with logging_redirect_tqdm():  # a warning mid-loop gets its own line, not the progress bar's
            return int(args.cli_handler(args) or 0)
    except _Unavailable as error:
        return _fail(command, str(error), 1)
    except Exception as error:  # noqa: BLE001 - a clean message instead of a traceback
        message, code = failure(error)
        if code == 1 and (broken := broken_install(error)):  # a runtime failure that is the installation's
            message = broken
        return _fail(command, message, code)


if __name__ == "__main__":
    sys.exit(main())
