"""A command's help names only options that command has: the checkpoint group's shared help said "with --bank,
the checkpoint the bank records" in ``demo`` and ``bank build``, which take no ``--bank`` (a docs probe)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

from stylizing_vit_aug import cli

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")


def _commands(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield f"{name} {sub_name}".strip(), sub
                yield from _commands(sub, f"{name} {sub_name}")


def test_every_option_an_options_help_names_is_one_its_command_takes():
    commands = {}
    for command in cli.COMMANDS:  # a command's options are attached only where argv names it
        commands |= {name: sub for name, sub in _commands(cli.build_parser([command]), "") if name.startswith(command)}
    assert {"stylize", "preview", "demo", "bank build", "train"} <= set(commands)
    wrong = {}
    for name, parser in commands.items():
        own = {option for action in parser._actions for option in action.option_strings}
        texts = [action.help for action in parser._actions if action.help not in (None, argparse.SUPPRESS)]
        named = set(OPTION.findall(" ".join(texts)))  # options' helps: descriptions show other tools' examples
        if named - own:
            wrong[name] = sorted(named - own)
    assert not wrong, wrong
