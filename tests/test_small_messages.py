"""Messages that named the wrong thing or too little (hostile probes): each says what was wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

import stylizing_vit_aug as sva
from helpers import write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.checkpoints import CorruptCheckpoint
from stylizing_vit_aug.images import ImageReadError, read_image


def test_an_unknown_architecture_field_is_named(small_stylizer, tmp_path):
    small_stylizer.save_pretrained(tmp_path / "ckpt")
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    config["architecture"]["num_layers"] = 4
    (tmp_path / "ckpt" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CorruptCheckpoint, match=r"\(unknown: \['num_layers'\]\)"):
        sva.load_stylizer(tmp_path / "ckpt")


def test_a_save_under_a_file_says_a_file_is_on_its_way(small_stylizer, tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"afile/sub: a file is on its way"):
        small_stylizer.save_pretrained(tmp_path / "afile" / "sub")


def test_a_uint32_tiff_is_refused_quoting_a_value_it_holds(tmp_path):
    tifffile.imwrite(tmp_path / "deep.tif", np.full((16, 16), 2**31 + 65536, np.uint32))
    with pytest.raises(ImageReadError, match=rf"e\.g\. {2**31 + 65536}\)"):
        read_image(tmp_path / "deep.tif")


def test_bank_build_names_a_folder_output_as_a_folder_and_counts_in_words(tmp_path, checkpoint, capsys):
    write_images(tmp_path / "styles" / "lab", 1, size=(36, 36))
    (tmp_path / "out").mkdir()
    build = ["bank", "build", str(tmp_path / "styles"), "--checkpoint", checkpoint, "-o"]
    assert cli.main([*build, str(tmp_path / "out")]) == 2
    assert "is a folder; name the bank file" in capsys.readouterr().err
    assert cli.main([*build, str(tmp_path / "BANK.SAFETENSORS")]) == 0
    said = capsys.readouterr().out
    assert "1 style in 1 domain, " in said and said.rstrip().endswith(" kB")
