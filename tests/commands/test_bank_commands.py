"""`bank build`, `bank info` and a bank on the command line: options that would be ignored are
refused, where each style came from is shown, a bank and a checkpoint swapped are named (in the options the
command has), and a bank of another checkpoint is re-encoded with a warning that says so and what it costs."""

from __future__ import annotations

import re

import numpy as np
import pytest

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model, write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.commands.preview import _bank_label
from stylizing_vit_aug.images import save_image


@pytest.fixture
def built(tmp_path, checkpoint):
    """A bank of styles/lab_a/img00..01.png built with ``checkpoint``."""
    write_images(tmp_path / "styles" / "lab_a", 2, size=(36, 36), seed=3)
    bank = tmp_path / "bank.safetensors"
    assert cli.main(["bank", "build", str(tmp_path / "styles"), "-o", str(bank), "--checkpoint", checkpoint]) == 0
    return bank


def test_bank_build_refuses_a_crop_size_without_crops_per_image(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "styles", 2)
    code = cli.main(
        [
            "bank",
            "build",
            str(tmp_path / "styles"),
            "-o",
            str(tmp_path / "b.safetensors"),
            "--crop-size",
            "20",
            "--checkpoint",
            checkpoint,
        ]
    )
    assert code == 2 and not (tmp_path / "b.safetensors").exists()
    err = capsys.readouterr().err
    assert "--crop-size 20" in err and "add --crops-per-image N" in err
    assert err.startswith("stylizing-vit-aug bank build: error:")  # the command as typed, not "bank"


def test_bank_build_refuses_a_stream_dtype_with_no_streams(tmp_path, checkpoint, capsys):
    """``--stream-dtype`` with ``--no-streams`` was ignored without a word (found by a probe), as ``--crop-size``
    alone is not."""
    write_images(tmp_path / "styles", 2)
    out = tmp_path / "b.safetensors"
    args = ["bank", "build", str(tmp_path / "styles"), "-o", str(out), "--checkpoint", checkpoint, "--no-streams"]
    assert cli.main([*args, "--stream-dtype", "float16"]) == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "--stream-dtype float16" in err and "--no-streams" in err and "drop one of them" in err
    assert cli.main(args) == 0 and out.is_file()  # --no-streams alone builds


def test_bank_build_help_says_what_crop_size_measures_and_defaults_to(capsys):
    """It said "crop side (default: model size)": not in what units, of what, nor that a crop is resized."""
    assert cli.main(["bank", "build", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    crop = text[text.index("--crop-size CROP_SIZE ", text.index("options:")) :]  # its entry, not the usage line
    for said in ("pixels", "shorter side", "resized to the model's input size", "default: the model's input size"):
        assert said in crop[:400], said


def test_bank_build_help_names_the_exit_code_a_style_outside_the_value_range_gives(tmp_path, checkpoint, capsys):
    """It said such a file stops the build (exit code 2); it is left out like an unreadable file."""
    write_images(tmp_path / "styles", 1)
    save_image(np.full((40, 48, 3), 5000, np.uint16), tmp_path / "styles" / "wide.png", "PNG")  # above 4095
    observed = {}
    for on_error in ("skip", "stop"):  # skip: the default
        out = tmp_path / f"{on_error}.safetensors"
        argv = ["bank", "build", str(tmp_path / "styles"), "-o", str(out), "--value-range", "0,4095"]
        observed[on_error] = cli.main([*argv, "--on-error", on_error, "--checkpoint", checkpoint])
        assert "wide.png: 16-bit values from" in capsys.readouterr().err  # refused by the range, not by usage
    assert cli.main(["bank", "build", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    options, epilog = text.split(" --value-range LOW,HIGH ", 1)[1].split("examples:", 1)
    said = [s for s in re.split(r"(?<=\.)\s+", epilog) if "outside" in s]
    assert said, "the epilog says what a style file outside --value-range does"
    for sentence in said:
        assert f"exit code {observed['skip']}" in sentence, sentence
        assert set(re.findall(r"--on-error stop: exit code (\d+)", sentence)) <= {str(observed["stop"])}, sentence
        assert set(re.findall(r"exit code (\d+)", sentence)) <= {str(code) for code in observed.values()}, sentence
    option = options.split(" --on-error ", 1)[0]  # the shared --value-range entry
    assert "bank build" in next(s for s in re.split(r"(?<=\.)\s+", option) if "outside" in s)


def test_bank_info_shows_each_styles_file_and_the_images_digest(built, checkpoint, capsys):
    capsys.readouterr()
    assert cli.main(["bank", "info", str(built)]) == 0
    summary = capsys.readouterr().out
    assert "e.g. #0 lab_a/img00.png (sha256 " in summary and "--sources lists every style" in summary
    digest = sva.StyleBank.load(built, sva.load_stylizer(checkpoint)).images_digest
    assert f"digest {digest} (StyleBank.images_digest)" in summary
    assert cli.main(["bank", "info", str(built), "--sources"]) == 0
    listing = capsys.readouterr().out
    assert "#0  lab_a/img00.png (sha256 " in listing and "#1  lab_a/img01.png (sha256 " in listing


def test_bank_info_says_the_settings_a_front_end_loads_the_banks_stylizer_with(tmp_path, checkpoint, capsys):
    """A bank file records its stylizer's settings (a front-end given the file uses them): info names them."""
    write_images(tmp_path / "styles", 2, size=(36, 36), seed=3)
    bank = tmp_path / "dark.safetensors"
    argv = ["bank", "build", str(tmp_path / "styles"), "-o", str(bank), "--checkpoint", checkpoint]
    assert cli.main([*argv, "--background", "dark"]) == 0
    capsys.readouterr()
    assert cli.main(["bank", "info", str(bank)]) == 0
    assert re.search(r"^settings: .*background=dark", capsys.readouterr().out, re.MULTILINE)


@pytest.mark.parametrize("stats", [[], ["--mean", "0.7", "0.6", "0.7", "--std", "0.2", "0.2", "0.2"]])
def test_stylize_with_a_bank_as_checkpoint_says_to_pass_it_as_bank(tmp_path, built, checkpoint, capsys, stats):
    write_images(tmp_path / "in", 1)
    code = cli.main(
        [
            "stylize",
            str(tmp_path / "in"),
            "-o",
            str(tmp_path / "out"),
            "--style",
            str(tmp_path / "styles" / "lab_a" / "img00.png"),
            "--checkpoint",
            str(built),
            *stats,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and f"{built} is a style bank" in err and "pass it as --bank" in err
    assert "pass that as --checkpoint" in err and "--mean" not in err and "infer the architecture" not in err


@pytest.mark.parametrize("command", ["demo", "bank build", "train"])
def test_a_bank_as_checkpoint_is_told_only_options_its_command_has(tmp_path, built, checkpoint, capsys, command):
    """``demo --checkpoint bank.safetensors`` said "pass it as --bank", an option demo does not have."""
    argv = {"demo": ["demo", "--checkpoint", str(built), "-o", str(tmp_path / "g.png")],
            "bank build": ["bank", "build", str(tmp_path / "styles"), "-o", str(tmp_path / "b.safetensors"),
                           "--checkpoint", str(built)],
            "train": ["train", str(tmp_path / "styles"), "-o", str(tmp_path / "run"), "--init", str(built)]}[command]
    assert cli.main(argv) == 2
    (said,) = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert f"{built} is a style bank" in said and f"`stylizing-vit-aug {command}` takes no bank" in said, said
    assert "pass it as --bank" not in said and f"bank info {built}" in said and f"preview IMAGES --bank {built}" in said
    assert f"pass that as {'--init' if command == 'train' else '--checkpoint'}." in said
    for named in ("preview", "stylize"):  # the commands the advice names take --bank
        assert cli.main([named, "--help"]) == 0 and "--bank" in capsys.readouterr().out
    assert cli.main([*command.split(), "--help"]) == 0 and "--bank" not in capsys.readouterr().out


def test_stylize_with_a_checkpoint_as_bank_says_to_pass_it_as_checkpoint(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "in", 1)
    weights = f"{checkpoint}/model.safetensors"
    code = cli.main(
        ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--bank", weights, "--checkpoint", checkpoint]
    )
    err = capsys.readouterr().err
    assert code == 2 and f"{weights} is a checkpoint's weights file" in err and "pass it as --checkpoint" in err


def test_a_bank_of_another_checkpoint_is_reencoded_with_one_warning_saying_so(tmp_path, built, capsys):
    other = tmp_path / "other"
    sva.save_pretrained(make_small_model(seed=7), other, mean=CAMELYON_MEAN, std=CAMELYON_STD)
    write_images(tmp_path / "in", 1)
    capsys.readouterr()
    code = cli.main(
        ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--bank", str(built), "--checkpoint", str(other)]
    )
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("WARNING")]
    assert code == 0 and len(warnings) == 1
    assert f"its 2 styles are re-encoded with {str(other.resolve())!r}" in warnings[0]
    assert "up to 2 passes of the style encoder" in warnings[0] and "saved style streams are not used" in warnings[0]


def test_preview_labels_a_bank_style_with_its_file(built, checkpoint):
    bank = sva.StyleBank.load(built, sva.load_stylizer(checkpoint))
    assert _bank_label(bank, 1) == "#1 lab_a img01"
    bank.sources = None  # a bank saved before sources were recorded
    assert _bank_label(bank, 1) == "#1 lab_a"


def test_bank_build_domains_images_beside_the_subfolders_form_a_domain_named_after_the_folder(
    tmp_path, checkpoint, capsys
):
    """--help spoke only of subfolder names, while images directly in the folder get the folder's
    own name as their domain (as training data does): the help says so, and the bank holds it."""
    assert cli.main(["bank", "build", "--help"]) == 0
    assert "images directly in FOLDER form one more domain, named after FOLDER" in " ".join(
        capsys.readouterr().out.split()
    )
    write_images(tmp_path / "mixed" / "lab_a", 2, size=(36, 36), seed=3)
    write_images(tmp_path / "mixed", 1, size=(36, 36), seed=5)
    out = tmp_path / "bank.safetensors"
    assert cli.main(["bank", "build", str(tmp_path / "mixed"), "-o", str(out), "--checkpoint", checkpoint]) == 0
    bank = sva.StyleBank.load(out, sva.load_stylizer(checkpoint))
    assert sorted(bank.domains) == ["lab_a", "lab_a", "mixed"]


def test_bank_build_help_names_every_format_a_build_reads(capsys):
    """It said "every PNG/JPEG/TIFF", though BMP and WebP files are read too."""
    from stylizing_vit_aug.images import IMAGE_EXTENSIONS

    assert cli.main(["bank", "build", "--help"]) == 0
    assert f"every {'/'.join(IMAGE_EXTENSIONS)} image under FOLDER" in " ".join(capsys.readouterr().out.split())
