"""The ``stylizing-vit-aug`` command line (also ``python -m stylizing_vit_aug.cli``).

Subcommands live in :mod:`stylizing_vit_aug.commands`, one module each, registered in :data:`COMMANDS`; only the
module of the command being run is imported. Exit codes: 0 success, 1 a runtime failure (a broken installation too:
:func:`._exits.broken_install`), 2 a usage or input error, a run with no readable input included (message on stderr,
no traceback; ``-vv`` adds the traceback to the log), 3 (:data:`EXIT_SKIPPED`) finished but some files could not be
read and were skipped (``stylize``, ``bank build``, ``preview``), 4 ``train`` stopped at a NaN/Inf loss or gradient,
130 interrupted, 143 terminated (SIGTERM), 141 (:data:`EXIT_OUTPUT_CLOSED`) stdout's reader closed it before the
command had printed everything (``demo | head -1``): quietly, as a process ended by SIGPIPE, whatever files the
command writes written first; a code the command had returned (3 of ``stylize``, ``preview`` and ``bank build``, whose
line on stdout comes last) is kept, also where stderr or stdout cannot take the last messages (closed, a full disk).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import functools
import importlib
import logging
import os
import select
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from . import __version__
from ._signals import entry_point_signals, terminated
from .commands._exits import PROG, Unavailable, broken_install, failure, say, say_stopped

logger = logging.getLogger("stylizing_vit_aug.cli")

EXIT_OUTPUT_CLOSED = 141
"""stdout's reader closed it early: 128 + SIGPIPE, the code of a shell tool that SIGPIPE ended (``set -o pipefail``)."""


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
                lines += textwrap.wrap(
                    " ".join(paragraph),
                    width,
                    initial_indent=indent,
                    subsequent_indent=indent,
                    break_long_words=False,
                    break_on_hyphens=False,
                )
                paragraph = []
            lines.append(indent + line)
        return "\n".join(lines[:-1])


FORMATTER = HelpFormatter


class CommandParser(argparse.ArgumentParser):
    """A parser, its subcommands' too, that says an option it does not know itself, before any other check
    (a required argument), naming the option it is closest to: ``demo --chekpoint x`` was refused by the
    top-level parser ("unrecognized arguments: --chekpoint x"), ``stylize --bnak b ...`` as missing --bank."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if args is not None and not self.get_default("cli_unavailable"):  # a command not loaded: its options unknown
            if unknown := self._unknown_options(list(args)):
                self.error(f"unrecognized arguments: {' '.join(unknown)}")
        return super().parse_known_args(args, namespace)

    def _unknown_options(self, args: list[str]) -> list[str]:
        """The options of ``args`` this parser does not know (with a close one it does), up to its subcommand
        or ``--``: what follows a subcommand is that parser's."""
        action = _subcommands(self)
        known = sorted(option for option in self._option_string_actions if option.startswith("--"))
        unknown = []
        for token in args:
            if token == "--" or (action is not None and token in action.choices):
                break
            if _is_unknown(self._parse_optional(token)):
                name = token.split("=", 1)[0]
                close = difflib.get_close_matches(name, known, n=1)
                unknown.append(f"{name} (did you mean {close[0]}?)" if close else name)
        return unknown


def _is_unknown(parsed: object) -> bool:
    """Whether argparse's reading of one token is an option it has no action for (None: a positional; one
    ``(action, option, ...)`` tuple before Python 3.12.7, a list of them since)."""
    if parsed is None:
        return False
    first = parsed[0] if isinstance(parsed, list) else parsed
    return first[0] is None


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
bank build, preview), 4 train stopped at a NaN/Inf loss or gradient, 130 interrupted, 143 terminated (SIGTERM),
141 stdout closed by its reader before all was printed (`demo | head -1`; the files are written first; a `stylize` run
that skipped files exits {exit_skipped} all the same).
"""


class Command(NamedTuple):
    """One subcommand: its module in :mod:`stylizing_vit_aug.commands` (which has ``EPILOG``,
    ``add_arguments(parser)`` and ``run(args)``), its line in ``--help`` and its description.
    A command's parser imports no torch, so its ``--help`` and usage errors answer at once: a module that
    imports torch at its top names a torch-free ``arguments`` module (its ``EPILOG`` and ``add_arguments``),
    and is itself imported only when the command runs."""

    module: str
    help: str
    description: str
    bank: bool = False  # it takes --bank, whose path is checked before the module (and torch) loads
    arguments: str | None = None  # the module of its EPILOG and add_arguments, where not `module` (which loads torch)


# The one registration table: a command is its module plus one entry here. `--help` lists the
# commands from it, once, and the docs' CLI reference walks it; only the module of the command
# being run is imported.
COMMANDS: dict[str, Command] = {
    "demo": Command(
        "demo",
        "stylise the bundled sample images into a labelled grid and print quality figures",
        "Stylise the bundled histology samples into a labelled content x style grid PNG and "
        "print anatomy-preservation and style-match figures.",
    ),
    "stylize": Command(
        "stylize",
        "a folder of images in, a stylised folder out (resumable, records the styles)",
        "Stylise every image of a folder (recursively) into an output folder.",
        bank=True,
        arguments="_stylize_args",
    ),
    "preview": Command(
        "preview",
        "a labelled content x style grid from folders or a bank file",
        "Render a labelled grid of content images in several styles.",
        bank=True,
    ),
    "bank": Command(
        "bank",
        "build a style bank file from a folder, or inspect one",
        "Build a style bank file from a folder of style images, or inspect one.",
    ),
    "train": Command(
        "train",
        "fine-tune a stylizer on your own domains (also under `accelerate launch`)",
        "Fine-tune a stylizer on your own domains.",
        arguments="_train_args",
    ),
    "bench": Command(
        "bench",
        "throughput against the published reference implementation",
        "Benchmark stylisation throughput against the published reference implementation.",
    ),
    "app": Command(
        "app",
        "a local web page: your images in your styles, with the figures (needs the app extra)",
        "Serve a web page (Gradio) that shows content images in chosen styles with the quality "
        "figures, and the StylizeTransform(...) line with those settings.",
        bank=True,
    ),
}


def _add_verbose(parser: argparse.ArgumentParser, default: object, dest: str = "verbose") -> None:
    """``-v``: before the command into ``verbose``; after a command or a nested one into ``verbose_1``, ``verbose_2``
    (argparse copies a command's values over the level above's, so one count would replace the other: ``-vv stylize
    ... -v`` was ``-v``)."""
    parser.add_argument(
        "-v", "--verbose", action="count", default=default, dest=dest,
        help="more log output (-v info, -vv debug with tracebacks)",
    )


def verbosity(args: argparse.Namespace) -> int:
    """How many ``-v`` the command line gave, before the command and after it (and a nested one) together."""
    return sum(int(count) for name, count in vars(args).items() if name == "verbose" or name.startswith("verbose_"))


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    """The parser's subcommands, if it has any (argparse has no public way to list them)."""
    return next((action for action in parser._actions if isinstance(action, argparse._SubParsersAction)), None)


def _verbose_below(parser: argparse.ArgumentParser, depth: int = 2) -> None:
    """``-v`` after every subcommand below ``parser``, nested ones a command's module adds (``bank
    build``) included: the top-level usage lists it, so ``bank build ... -v`` was refused."""
    if (action := _subcommands(parser)) is None:
        return
    for sub in action.choices.values():
        if "-v" not in sub._option_string_actions:
            _add_verbose(sub, argparse.SUPPRESS, f"verbose_{depth}")
        _verbose_below(sub, depth + 1)


def _command_named(parser: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[str, argparse.ArgumentParser]:
    """The subcommand ``args`` runs, with the nested one it names (e.g. ``bank build``), and its parser, whose
    usage an error shows."""
    names: list[str] = []
    while (action := _subcommands(parser)) is not None and getattr(args, action.dest, None) in action.choices:
        names.append(getattr(args, action.dest))
        parser = action.choices[names[-1]]
    return " ".join(names), parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first token that is not a top-level option)."""
    for token in argv:
        if not token.startswith("-"):
            return token
    return None


def _unavailable(name: str, error: Exception) -> str:
    """Why command ``name``'s module did not import: the package's own files broken (:func:`broken_install`),
    or an optional dependency missing."""
    return broken_install(error) or f"`{name}` is not available in this installation ({error})"


def _run_later(name: str, args: argparse.Namespace) -> int:
    """The handler of a command whose parser has a module of its own: its module (and torch) imported now,
    as it runs, not for its ``--help`` or a usage error."""
    try:
        module = importlib.import_module(f"stylizing_vit_aug.commands.{COMMANDS[name].module}")
    except Exception as error:  # noqa: BLE001 - whatever an import raises, said once (its traceback with -vv)
        raise Unavailable(_unavailable(name, error)) from error
    return module.run(args)


def _attach(sub: argparse.ArgumentParser, name: str) -> None:
    """Arguments and handler of ``name`` from its module; if it cannot be imported, say why on use:
    an optional dependency missing, or (:func:`broken_install`) the package's own files broken."""
    command = COMMANDS[name]
    try:
        module = importlib.import_module(f"stylizing_vit_aug.commands.{command.arguments or command.module}")
    except Exception as error:  # noqa: BLE001 - whatever an import raises, said once when the command runs
        cause = error
        reason = _unavailable(name, error)
        sub.description = f"{sub.description} Not available here: {reason}."

        def unavailable(args: argparse.Namespace) -> int:
            raise Unavailable(reason) from cause  # the import's traceback with -vv

        # its options are unknown here: whatever follows the command is left to this message (see _run)
        sub.set_defaults(cli_handler=unavailable, cli_unavailable=True)
        return
    sub.epilog = module.EPILOG
    module.add_arguments(sub)
    sub.set_defaults(cli_handler=module.run if command.arguments is None else functools.partial(_run_later, name))


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The full parser; a command's module is imported only when ``argv`` names it."""
    from .commands.common import EXIT_SKIPPED

    epilog = EPILOG.format(exit_skipped=EXIT_SKIPPED)
    parser = CommandParser(prog=PROG, description=DESCRIPTION, epilog=epilog, formatter_class=FORMATTER)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_verbose(parser, 0)
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND", required=True)
    wanted = _command_of(argv)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.description, formatter_class=FORMATTER)
        _add_verbose(sub, argparse.SUPPRESS, "verbose_1")
        if name == wanted:
            _attach(sub, name)
            _verbose_below(sub)
    return parser


_LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
_runs: list[logging.Handler] = []  # the console handlers of in-process runs going on now (main([...]))
_runs_lock = threading.Lock()
_level_before = logging.NOTSET  # the package logger's level before the first of them


def _level(verbose: int) -> int:
    return logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG


@contextlib.contextmanager
def _logging_for(script: bool, verbose: int) -> Iterator[None]:
    """The log on stderr, its lines written above any progress bar. The console script (``script``: it owns its
    process) logs every library's warnings; ``-v`` (INFO) and ``-vv`` (DEBUG) open this package's records only,
    which other libraries' debug lines (Pillow's, one per PNG chunk read) would otherwise bury. ``main([...])``
    called in a host program leaves the host's logging as it was (its root handlers and levels): a handler of its
    own on the package's logger, removed at the end, shows the package's lines (:func:`_package_console`)."""
    if not script:
        with _package_console(_level(verbose)):
            yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    logging.basicConfig(level=logging.WARNING, format=_LOG_FORMAT, force=True)
    logging.getLogger(__package__).setLevel(logging.NOTSET if verbose <= 0 else _level(verbose))  # NOTSET: WARNING
    with logging_redirect_tqdm():
        yield


@contextlib.contextmanager
def _package_console(level: int) -> Iterator[None]:
    """A stderr handler at ``level`` on the package's logger while an in-process run lasts (none where the host's
    root logger already writes to stderr: each line would show twice). The logger is lowered to the most verbose
    level of the runs going on (never raised above what the host set) and put back after the last; its records
    still reach the host's own handlers too."""
    global _level_before
    package = logging.getLogger(__package__)
    shown = any(getattr(handler, "stream", None) is sys.stderr for handler in logging.getLogger().handlers)
    handler = logging.NullHandler() if shown else _AboveBars()
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    with _runs_lock:
        if not _runs:
            _level_before = package.level
        _runs.append(handler)
        package.addHandler(handler)
        _set_package_level(package)
    try:
        yield
    finally:
        with _runs_lock:
            _runs.remove(handler)
            package.removeHandler(handler)
            _set_package_level(package)


class _AboveBars(logging.StreamHandler):
    """stderr through ``tqdm.write``: a line logged mid-loop gets its own line, not the progress bar's."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=self.stream)
        except RecursionError:  # as logging's own handlers: never swallowed
            raise
        except Exception:  # noqa: BLE001 - a handler reports its failures through handleError
            self.handleError(record)


def _set_package_level(package: logging.Logger) -> None:
    """The level the in-process runs going on now need (the host's own where none asks for more)."""
    asked = [handler.level for handler in _runs if handler.level < logging.WARNING]
    package.setLevel(min(asked + [_level_before or logging.CRITICAL]) if asked else _level_before)


def _fail(command: str | None, message: str, code: int) -> int:
    where = f"{PROG} {command}" if command else PROG
    say(f"{where}: error: {message}")  # a stderr that cannot take it (2>&-, 2>/dev/full) keeps the code
    logger.debug("traceback", exc_info=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it).

    Ctrl-C anywhere, including while a command's module imports torch, exits 130 with one line; SIGTERM
    (``kill``, a scheduler) 143, said so, where the console script owns the process.
    That is why this module imports nothing heavy at its top: the console script imports it
    before any handler runs.
    """
    script, argv = argv is None, list(sys.argv[1:] if argv is None else argv)
    if script:
        _hold_closed_descriptors()
    with entry_point_signals(script):
        code = 0
        try:
            code = _run(argv, script)
            if unwritten := _flush_stdout():  # stdout cannot take what it holds (a full disk: >/dev/full)
                code = code or _fail(_command_of(argv), f"could not write stdout: {unwritten}", 1)
        except KeyboardInterrupt as stop:  # before the command line is parsed (while torch imports, say)
            return say_stopped(_command_of(argv), stop)
        except BrokenPipeError:
            closed = _output_closed(script)
            return code or closed  # a code the command returned (files skipped, a failure) says more than 141
        finally:
            if script:
                _drop_unwritable()
        return code


def _hold_closed_descriptors() -> None:
    """Put the null device on each of the descriptors 0-2 the process was started without (``>&- 2>&-``), so the
    next file opened (an output) never gets one of them and takes what a library writes there (torch's C++
    warnings on fd 2); ``sys.stderr`` then writes to it: messages go nowhere, not to stdout or an output."""
    for descriptor in (0, 1, 2):
        try:
            os.fstat(descriptor)
        except OSError:  # closed
            null = os.open(os.devnull, os.O_RDWR)
            if null != descriptor:
                os.dup2(null, descriptor)
                os.close(null)
    if sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115 - the process's stderr from now on


def _flush_stdout() -> OSError | None:
    """Write what stdout holds now, where a closed reader is caught (BrokenPipeError, raised), not at exit; the
    error where it cannot take it (a full disk), else None."""
    if sys.stdout is None:
        return None
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as error:
        return error
    return None


def _drop_unwritable() -> None:
    """What stdout or stderr holds and cannot write (a full disk, a closed descriptor: ``2>&-``) goes to the null
    device, so the interpreter's last flush neither fails (exit 120) nor changes the exit code the run decided.
    Only an entry point that owns its process does this (as :func:`_output_closed`)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
                os.close(devnull)


def _stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader has closed it, so a ``BrokenPipeError`` is that (``| head``)
    and not a failure of the command's own (a pipe or socket it writes to)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    if not hasattr(select, "poll"):  # Windows: nothing to ask; there a broken pipe is most likely stdout's
        return True
    poller = select.poll()
    poller.register(fd, 0)  # POLLERR is always reported: a pipe's write end has it once no reader is left
    return any(event & select.POLLERR for _, event in poller.poll(0))


def _output_closed(script: bool) -> int:
    """stdout's reader went away (``demo | head -1``): no message and no traceback, the rest of the output
    goes nowhere, exit :data:`EXIT_OUTPUT_CLOSED` (Python's docs, "Note on SIGPIPE"). Only an entry point
    that owns its process points its stdout at the null device; a caller's own stdout is left as it is."""
    if script:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush at exit goes there
        os.close(devnull)
    return EXIT_OUTPUT_CLOSED


def __getattr__(name: str) -> object:
    """``cli.EXIT_SKIPPED``, imported on first use: the entry point loads no command code until
    a command runs or the full parser is built (see :func:`main`)."""
    if name == "EXIT_SKIPPED":
        from .commands.common import EXIT_SKIPPED

        return EXIT_SKIPPED
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _early_refusal(argv: list[str]) -> str | None:
    """A ``--bank`` path that is missing or a folder (:func:`.commands.common.bank_argument_refusal`), said
    before the command's module loads, which imports torch: 2-4 s, 14 s on a busy machine, for a typo."""
    name = _command_of(argv)
    if name not in COMMANDS or not COMMANDS[name].bank or {"-h", "--help"} & set(argv):
        return None
    from .commands.common import bank_argument_refusal

    return bank_argument_refusal(argv[argv.index(name) + 1 :], f"{name} --bank")


def _run(argv: list[str], script: bool) -> int:
    if refusal := _early_refusal(argv):
        return _fail(_command_of(argv), refusal, 2)
    try:
        parser = build_parser(argv)
        from .commands.common import joined_number_lists

        args, extra = parser.parse_known_args(joined_number_lists(argv))
        if extra and not getattr(args, "cli_unavailable", False):  # as parse_args, but for a command not loaded
            _command_named(parser, args)[1].error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exit:  # --help, --version, or a usage error already printed by argparse
        return int(exit.code or 0) if not isinstance(exit.code, str) else 2
    except Exception as error:  # the modules every command needs do not import: say why, once
        if broken := broken_install(error):
            return _fail(_command_of(argv), broken, 1)
        raise
    command, sub = _command_named(parser, args)  # e.g. "bank build", and its parser
    with _logging_for(script, verbosity(args)):  # around the failure too: -vv logs its traceback
        try:
            return int(args.cli_handler(args) or 0)
        except KeyboardInterrupt as stop:  # named as its errors are: `bank build`, not `bank`
            return say_stopped(command, stop)
        except Exception as error:  # noqa: BLE001 - a clean message instead of a traceback
            if stop := terminated():  # set off by SIGTERM (workers the same signal ended): said as the termination
                return say_stopped(command, stop)
            if isinstance(error, BrokenPipeError) and _stdout_gone():
                raise  # stdout's reader closed it (`| head -1`): main's, not a failure of the command
            return _fail(command, *failure(error, command, set(sub._option_string_actions)))  # its own options


if __name__ == "__main__":
    sys.exit(main())
