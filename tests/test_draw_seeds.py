"""The seeds the page, ``preview`` and a bank's crops (``bank build``, ``StyleBank.from_images``) draw
with. torch's CPU generator keeps a seed's low 32 bits,
so both took 0 and 2**32 (or -1 and 2**32 - 1) and showed the same images for them; one rule
(:func:`~stylizing_vit_aug.seeds.draw_seed_problem`) refuses a seed outside 0..2**32 - 1
on both, naming the range, and takes every seed inside."""

from __future__ import annotations

import pytest
import torch

from helpers import write_images
from stylizing_vit_aug import cli
from stylizing_vit_aug.app_previewer import Previewer
from stylizing_vit_aug.app_settings import BUNDLED, UPLOADS, Settings
from stylizing_vit_aug.seeds import draw_seed_problem

ALIASED = [2**32, -1, 2**63 - 1]  # torch drew each as a seed within 32 bits: 0, 2**32 - 1, 2**32 - 1
LARGEST = 2**32 - 1
progress = lambda *args, **kwargs: None  # noqa: E731 - the page's progress bar, outside a page event


def _draw(seed: int) -> list[int]:
    return torch.randperm(64, generator=torch.Generator().manual_seed(seed)).tolist()


def test_the_seeds_refused_are_those_torch_draws_as_another_and_no_other():
    """The rule is torch's: each refused seed (within the 64 bits torch takes) draws as its low 32 bits,
    which the rule takes; two seeds it takes draw differently."""
    for seed in ALIASED:
        assert draw_seed_problem(seed) is not None
        assert draw_seed_problem(seed % 2**32) is None and _draw(seed) == _draw(seed % 2**32)
    assert draw_seed_problem(0) is None and draw_seed_problem(LARGEST) is None
    assert _draw(0) != _draw(LARGEST) and _draw(0) != _draw(2**31)


@pytest.mark.parametrize("seed", ALIASED)
def test_a_seed_past_32_bits_is_the_pages_message_naming_the_range(seed, small_stylizer):
    """The page drew 2**32 as 0: it showed seed 0's styles under another seed. Now it says so."""
    from stylizing_vit_aug.app import _page_update, import_gradio

    gr = import_gradio()
    update = _page_update(gr, Previewer(small_stylizer, cell_size=40))
    with pytest.raises(gr.Error) as refused:
        update(["he_tcia"], None, BUNDLED, "", None, 1, seed, 1.0, "detail", progress=progress)
    message = str(refused.value)
    assert f"the seed must be a whole number from 0 to 2**32 - 1 (4294967295), got {seed}" in message, message
    assert f"this one would be drawn as the seed {seed % 2**32}" in message
    with pytest.raises(ValueError, match=r"from 0 to 2\*\*32 - 1"):  # the library's Previewer: the same rule
        Previewer(small_stylizer, cell_size=40).render(Settings(contents=("he_tcia",), n_styles=1, seed=seed))


@pytest.fixture
def preview_run(tmp_path, checkpoint):
    """``run(seed)``: a one-content, one-style ``preview`` with ``--seed seed``; its exit code."""
    (image,) = write_images(tmp_path / "in", 1, size=(32, 32))
    argv = ["preview", str(image), "--style", str(image), "-o", str(tmp_path / "grid.png"), "--cell-size", "32"]
    return lambda seed: cli.main([*argv, "--checkpoint", checkpoint, "--seed", str(seed)])


@pytest.mark.parametrize("seed", ALIASED)
def test_preview_refuses_a_seed_past_32_bits_with_exit_2_and_the_pages_words(seed, preview_run, tmp_path, capsys):
    assert preview_run(seed) == 2
    err = capsys.readouterr().err
    assert f"argument --seed: {draw_seed_problem(seed)}" in err, err
    assert not (tmp_path / "grid.png").exists()


def test_preview_and_the_page_take_the_largest_seed(preview_run, tmp_path, small_stylizer):
    assert preview_run(LARGEST) == 0 and (tmp_path / "grid.png").is_file()
    images = tuple(str(path) for path in write_images(tmp_path / "up", 3, size=(32, 32)))
    settings = Settings(content_files=images[:1], style_source=UPLOADS, style_files=images, n_styles=2, seed=LARGEST)
    assert Previewer(small_stylizer, cell_size=40).render(settings).ssim.shape == (1, 2)


@pytest.mark.parametrize("seed", ALIASED)
def test_a_banks_crops_refuse_a_seed_past_32_bits(seed, small_stylizer, tmp_path, checkpoint, capsys):
    """``bank build --seed 4294967296`` took the crops of seed 0; the command and the library refuse it alike."""
    from stylizing_vit_aug import StyleBank

    images = write_images(tmp_path / "in", 1, size=(48, 48))
    with pytest.raises(ValueError, match=r"seed must be a whole number from 0 to 2\*\*32 - 1"):
        StyleBank.from_images(images, small_stylizer, crops_per_image=2, crop_size=32, seed=seed)
    argv = ["bank", "build", str(tmp_path / "in"), "-o", str(tmp_path / "b.safetensors"), "--checkpoint", checkpoint]
    assert cli.main([*argv, "--seed", str(seed)]) == 2
    assert f"argument --seed: {draw_seed_problem(seed)}" in capsys.readouterr().err
    assert not (tmp_path / "b.safetensors").exists()


def test_a_banks_crops_take_the_largest_seed_and_tell_it_from_zero(small_stylizer, tmp_path):
    from stylizing_vit_aug import StyleBank

    images = write_images(tmp_path / "in", 1, size=(48, 48))
    crops = [StyleBank.from_images(images, small_stylizer, crops_per_image=2, crop_size=32, seed=seed, encode=False)
             for seed in (0, LARGEST)]
    assert len(crops[1]) == 2 and not torch.equal(crops[0].images, crops[1].images)
