"""An option a subcommand does not know is said by that subcommand's parser, before its required-argument check,
with the option it is closest to: ``demo --chekpoint foo`` got the top-level usage and "stylizing-vit-aug: error:
unrecognized arguments: --chekpoint foo", ``stylize --bnak b ...`` only "one of the arguments --style --bank
--styles-dir is required"."""

from __future__ import annotations

import pytest

from stylizing_vit_aug import cli


@pytest.mark.parametrize(
    ("argv", "command", "said"),
    [
        (["demo", "--chekpoint", "foo"], "demo", "--chekpoint (did you mean --checkpoint?)"),
        (["stylize", "--bnak", "b", "x", "-o", "y"], "stylize", "--bnak (did you mean --bank?)"),
        (
            ["bank", "build", "s", "-o", "b.safetensors", "--stram-dtype=float16"],
            "bank build",
            "--stram-dtype (did you mean --stream-dtype?)",
        ),
    ],
    ids=["demo", "stylize-before-its-required-check", "nested-with-equals"],
)
def test_an_unknown_option_is_said_by_its_subcommand_with_the_closest_one(tmp_path, capsys, argv, command, said):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: stylizing-vit-aug {command} ")
    assert f"stylizing-vit-aug {command}: error: unrecognized arguments: {said}" in err
    assert "required" not in err


def test_options_it_knows_abbreviated_or_with_values_are_not_unknown(capsys):
    """An abbreviation, ``--opt=value`` and ``-vv`` pass as before: the next error is the real one."""
    assert cli.main(["bank", "build", "s", "-o", "b.txt", "--seed=3", "--crops-per", "2", "-vv"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized" not in err and "style folder s does not exist" in err
