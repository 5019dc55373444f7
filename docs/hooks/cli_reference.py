"""MkDocs hook: write every command's ``--help`` into docs/cli.md at build time.

The page holds the marker ``<!-- cli-reference -->``; this hook replaces it with one section per
subcommand (and per ``bank`` action), each the text argparse prints for ``--help``, so the
reference cannot drift from the parser. Only docs/cli.md is touched.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- cli-reference -->"
WIDTH = "100"  # argparse wraps to $COLUMNS; fixed so the page does not depend on the terminal


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse has no public way to list subparsers
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _section(level: int, title: str, parser: argparse.ArgumentParser) -> str:
    return f"{'#' * level} `{title}`\n\n```text\n{parser.format_help().rstrip()}\n```\n"


def cli_reference() -> str:
    from stylizing_vit_aug import cli

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parts = [_section(2, cli.PROG, cli.build_parser())]
        for name in cli.COMMANDS:
            # build_parser imports a command's module only when argv names it
            sub = _subparsers(cli.build_parser([name]))[name]
            parts.append(_section(2, f"{cli.PROG} {name}", sub))
            for action, nested in _subparsers(sub).items():
                parts.append(_section(3, f"{cli.PROG} {name} {action}", nested))
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri != "cli.md":
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/cli.md lost its {MARKER} marker")
    return markdown.replace(MARKER, cli_reference())
