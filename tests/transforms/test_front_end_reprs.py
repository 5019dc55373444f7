"""Every front-end's repr says which stylizer and which bank it uses, in one wording: an experiment's log
(``print(pipeline)``) must tell which checkpoint ran. They named only the parameters, as "styles=bank (uniform)"."""

from __future__ import annotations

import os

import pytest

from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model
from stylizing_vit_aug import Stylizer
from stylizing_vit_aug.transforms.albumentations import AlbumentationsStylize
from stylizing_vit_aug.transforms.batch import BatchStylize
from stylizing_vit_aug.transforms.kornia import RandomStylize
from stylizing_vit_aug.transforms.monai import RandStylize, RandStylized
from stylizing_vit_aug.transforms.torchvision import StylizeTransform

FRONT_ENDS = {
    "StylizeTransform": StylizeTransform,
    "RandomStylize": RandomStylize,
    "RandStylize": RandStylize,
    "RandStylized": lambda stylizer, bank: RandStylized("image", stylizer, bank),
    "BatchStylize": BatchStylize,
}
IN_BATCH = {"RandomStylize", "BatchStylize"}  # bank=None: the batch's own images


@pytest.mark.parametrize("name", [*FRONT_ENDS, "AlbumentationsStylize"])
def test_a_repr_names_the_checkpoint_and_the_bank_file(name, saved):
    checkpoint, bank_file = saved
    text = repr(FRONT_ENDS.get(name, AlbumentationsStylize)(checkpoint, bank_file))
    assert repr(os.path.abspath(checkpoint)) in text and repr(bank_file) in text, text


@pytest.mark.parametrize("name", list(FRONT_ENDS))
def test_a_repr_says_in_memory_and_bundled_in_the_same_words(name, small_stylizer, bank, tmp_path):
    make = FRONT_ENDS[name]
    text = repr(make(small_stylizer, bank))
    assert "stylizer=in memory, bank=in memory (5 styles), styles=bank (" in text, text
    path = str(bank.save(tmp_path / "styles.safetensors"))  # an object still, now with a file of its own
    assert f"bank=in memory (5 styles, from {path!r})" in repr(make(small_stylizer, bank))
    default = repr(make(None, None))
    if name in IN_BATCH:
        assert "stylizer=bundled default, styles=in-batch (rolled)" in default and "bank=" not in default, default
    else:
        assert "stylizer=bundled default, bank=bundled, styles=bank (uniform)" in default, default


def test_a_stylizer_loaded_from_a_source_is_named_by_it(saved, histology_crops, tmp_path):
    """A Stylizer object says where it was loaded from; a bank file alone names the stylizer it records (the
    bundled default where it records none, as then that is what loads)."""
    from stylizing_vit_aug import StyleBank, load_stylizer

    checkpoint, bank_file = saved
    loaded = load_stylizer(checkpoint)
    recording = str(StyleBank.from_images(histology_crops[:2], loaded).save(tmp_path / "recording.safetensors"))
    source = repr(loaded.source)
    assert f"stylizer=in memory ({source})" in repr(StylizeTransform(loaded, bank_file))
    assert f"stylizer={source}, bank={recording!r}" in repr(StylizeTransform(None, recording))
    assert f"stylizer=bundled default, bank={bank_file!r}" in repr(StylizeTransform(None, bank_file))
    assert "stylizer=in memory (bundled default)" in repr(BatchStylize(load_stylizer()))
    pinned = Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, source="someone/stain-model", revision="v2")
    assert "stylizer=in memory ('someone/stain-model' @ v2)" in repr(BatchStylize(pinned))


def test_a_repr_never_raises_when_the_bank_file_is_gone(saved):
    checkpoint, bank_file = saved
    transform = StylizeTransform(None, bank_file)
    os.remove(bank_file)
    assert f"stylizer=recorded in the bank file, bank={bank_file!r}" in repr(transform)


@pytest.mark.parametrize("name", ["StylizeTransform", "BatchStylize"])
def test_p_set_after_construction_is_checked_and_is_the_one_the_repr_and_the_draws_read(name, small_stylizer, bank,
                                                                                        histology_crops):
    """A schedule sets ``p`` (as on torchvision's own random transforms): the draws took it, the repr kept the
    constructor's, and ``p = 5`` was accepted."""
    import torch

    augment = FRONT_ENDS[name](small_stylizer, bank)
    augment.p = 0.0
    images = torch.from_numpy(histology_crops[0]).permute(2, 0, 1)[None].contiguous()
    assert torch.equal(augment(images), images) and "(p=0.0," in repr(augment)
    augment.p = 1
    assert not torch.equal(augment(images), images) and "(p=1.0," in repr(augment)
    for bad in (5, -0.1, "0.5", True):
        with pytest.raises(ValueError, match="p is a probability and must lie in"):
            augment.p = bad
    assert augment.p == 1.0
