"""A bank stays one consistent thing: its streams are its own network's encoding of its current
images, its domain index groups its current labels, a file never pairs new pixels with old
streams or labels that do not fit, and what building silently lost or distorted is said."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
import torch
from PIL import Image

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, make_small_model, truncated_jpeg, write_images
from stylizing_vit_aug.bank import BankMismatch, StyleBank, StyleFile
from stylizing_vit_aug.bank import style_bank as style_bank_module
from stylizing_vit_aug.image_ops import resize
from stylizing_vit_aug.images import to_batch, to_uint8


def _random_images(count: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, 3, 32, 32), dtype=torch.uint8, generator=generator)


def _encoded(stylizer: sva.Stylizer, images: torch.Tensor) -> torch.Tensor:
    return stylizer.encode_style(images).layers


# -- 1. the stylizer that asks for streams ----------------------------------------------------------
def test_streams_asked_for_by_another_network_are_refused_naming_it(small_stylizer):
    bank = StyleBank(_random_images(2), small_stylizer).encode()
    other = sva.Stylizer(make_small_model(seed=1), CAMELYON_MEAN, CAMELYON_STD, device="cpu", source="other-ckpt")
    with pytest.raises(BankMismatch, match=f"StyleBank.stream.*fingerprint {other.fingerprint}.*other-ckpt"):
        bank.stream([0], stylizer=other)
    same_weights = sva.Stylizer(make_small_model(seed=0), CAMELYON_MEAN, CAMELYON_STD, device="cpu")
    torch.testing.assert_close(bank.stream([1], stylizer=same_weights).layers, bank.stream([1]).layers)
    with torch.no_grad():
        next(small_stylizer.model.parameters()).mul_(1.5)  # the bank's network fine-tuned in place: now another
    with pytest.raises(BankMismatch, match="StyleBank.stream"):
        bank.stream([1], stylizer=same_weights)


def test_an_approved_stylizer_fine_tuned_in_place_is_checked_again(small_stylizer):
    bank = StyleBank(_random_images(2), small_stylizer).encode()
    twin = sva.Stylizer(make_small_model(seed=0), CAMELYON_MEAN, CAMELYON_STD, device="cpu")
    bank.stream([0], stylizer=twin)  # the same network: accepted
    with torch.no_grad():
        next(twin.model.parameters()).mul_(1.5)  # the user's copy fine-tuned: another network now
    with pytest.raises(BankMismatch, match="StyleBank.stream"):
        bank.stream([0], stylizer=twin)


# -- 2. the caches follow the images ------------------------------------------------------------------
@pytest.mark.parametrize("change", ["in place", "replaced"])
def test_streams_profiles_and_stats_follow_images_written_or_replaced(tmp_path, small_stylizer, change):
    bank = StyleBank(_random_images(3), small_stylizer).encode()
    old_colours, old_stats = bank.stream([0]).colours, bank.color_stats()
    new = bank.images.clone()
    new[0] = 255 - new[0]
    if change == "in place":
        bank.images[0] = new[0]
    else:
        bank.images = new
    torch.testing.assert_close(bank.stream([0, 2]).layers, _encoded(small_stylizer, new[[0, 2]]))
    expected_colours = small_stylizer.colour_profiles(bank.style_images([0]))
    assert torch.equal(bank.stream([0]).colours, expected_colours) and not torch.equal(expected_colours, old_colours)
    assert torch.equal(bank.color_stats(), sva.StyleBank(new, small_stylizer).color_stats())
    assert not torch.equal(bank.color_stats(), old_stats)
    loaded = StyleBank.load(bank.save(tmp_path / "bank.safetensors"), small_stylizer)
    torch.testing.assert_close(loaded.stream([0]).layers, _encoded(small_stylizer, new[[0]]))


def test_sampling_and_streams_never_hash_the_images(small_stylizer, monkeypatch):
    """The hot path (a DataLoader's draws) reads version counters, not pixels."""
    bank = StyleBank(_random_images(4), small_stylizer, domains=list("aabb")).encode()
    monkeypatch.setattr(style_bank_module, "images_digest", lambda images: pytest.fail("the images were hashed"))
    for _ in range(3):
        bank.stream(bank.sample(2, strategy="balanced"))


def test_images_replaced_by_another_count_or_kind_are_refused(small_stylizer):
    bank = StyleBank(_random_images(3), small_stylizer)
    with pytest.raises(ValueError, match=r"replaced by 3 images .* got 2.*StyleBank\(images"):
        bank.images = _random_images(2)
    with pytest.raises(TypeError, match="uint8"):
        bank.images = _random_images(3).float()
    with pytest.raises(ValueError, match="the stylizer's channels and size"):
        bank.images = torch.zeros(3, 3, 16, 16, dtype=torch.uint8)


def test_images_made_and_written_in_inference_mode_are_followed_too(small_stylizer):
    """Inference tensors keep no version counter: the bank keeps its own copy, which does."""
    with torch.inference_mode():
        bank = StyleBank(_random_images(2), small_stylizer).encode()
        bank.images[1] = 0
    torch.testing.assert_close(bank.stream([1]).layers, _encoded(small_stylizer, bank.images[[1]]))


# -- 3. domains and sources set after the bank was made -------------------------------------------------
def test_relabelled_domains_regroup_sampling(small_stylizer):
    bank = StyleBank(_random_images(4), small_stylizer, domains=list("aaab"))
    g = torch.Generator().manual_seed(0)
    bank.sample(1, generator=g, strategy="balanced")
    for relabel in ("set", "written into"):
        if relabel == "set":
            bank.domains = list("abbb")
        else:
            bank.domains = list("aaab")
            bank.sample(1, generator=g, strategy="balanced")
            bank.domains[1:3] = ["b", "b"]
        drawn = bank.sample(20_000, generator=g, strategy="balanced")
        share = (drawn == 0).float().mean().item()
        assert share == pytest.approx(1 / len(set(bank.domains)), abs=0.02), relabel  # "a" holds style 0 alone


def test_domains_or_sources_that_do_not_fit_are_refused_when_set_and_saved(tmp_path, small_stylizer):
    bank = StyleBank(_random_images(4), small_stylizer, domains=list("aabb"))
    with pytest.raises(ValueError, match=r"bank.domains: got 2 domain labels for 4 style images"):
        bank.domains = ["a", "b"]
    with pytest.raises(ValueError, match="bank.sources: .*4"):
        bank.sources = [StyleFile("a.png", "0" * 16)]
    bank.domains.append("c")  # written into: noticed when it is used
    path = tmp_path / "bank.safetensors"
    with pytest.raises(ValueError, match=r"bank.domains: got 5 domain labels for 4"):
        bank.save(path)
    with pytest.raises(ValueError, match=r"bank.domains: got 5 domain labels for 4"):
        bank.sample(1, strategy="balanced")
    bank.domains = list("aabb")
    bank.sources = [StyleFile(f"{i}.png", "0" * 16) for i in range(4)]
    bank.sources.pop()
    with pytest.raises(ValueError, match="bank.sources: .*4"):
        bank.save(path)
    assert not path.exists()


# -- 4. non-square style images ----------------------------------------------------------------------
def _strip_of_round_blobs(path) -> str:
    """A 1200x200 strip of round blobs 80 px across (a 6:1 scan of a slide's edge, say)."""
    image = np.full((200, 1200, 3), 255, np.uint8)
    yy, xx = np.mgrid[:200, :1200]
    for cx in range(50, 1200, 100):
        image[((xx - cx) ** 2 + (yy - 100) ** 2) < 40**2] = (120, 40, 140)
    Image.fromarray(image).save(path)
    return str(path)


def test_a_long_style_image_is_named_as_squashed_with_the_remedy(tmp_path, small_stylizer, caplog):
    """Resized whole, a 6:1 strip's round blobs become narrow ellipses: said, naming the file, with
    the remedy. It stays resized whole: measured on the bundled model, a long style serves better
    whole than as its centre square (docs/style-banks.md); crops_per_image cuts squares from it."""
    strip = _strip_of_round_blobs(tmp_path / "strip.png")
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.bank.building"):
        whole = StyleBank.from_images([strip], small_stylizer, encode=False)
        (said,) = [r.getMessage() for r in caplog.records]
        caplog.clear()
        StyleBank.from_images([strip], small_stylizer, encode=False, crops_per_image=2)
        assert not caplog.records
    assert strip in said and "1200x200" in said and "6.0 times" in said and "crops_per_image" in said
    pixels, _ = to_batch(Image.open(strip), strip)
    assert torch.equal(whole.images, to_uint8(resize(pixels, small_stylizer.img_size, small_stylizer.img_size)))


def test_nearly_square_style_images_are_not_warned(tmp_path, small_stylizer, caplog):
    paths = write_images(tmp_path, 2, size=(40, 48))
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.bank.building"):
        StyleBank.from_images(paths, small_stylizer, encode=False)
    assert not [r for r in caplog.records if "long as wide" in r.getMessage()]


# -- 5. domains lost while building; content domains the bank lacks ------------------------------------
def test_a_subfolder_whose_every_image_was_skipped_is_named(tmp_path, small_stylizer, caplog):
    root = tmp_path / "styles"
    write_images(root / "he", 2, seed=1)
    bad = truncated_jpeg(root / "scanner_b" / "broken.jpg")
    with caplog.at_level(logging.WARNING):
        bank = StyleBank.from_folder(root, small_stylizer, encode=False)
    assert bank.domain_names == ["he"]
    said = [r.getMessage() for r in caplog.records if "gave no style" in r.getMessage()]
    assert len(said) == 1 and "'scanner_b'" in said[0] and str(bad) in said[0]


@pytest.mark.parametrize("chunk_size", [64, 3])
def test_each_image_of_a_batch_is_named_by_its_own_index(histology_crops, small_stylizer, caplog, chunk_size):
    """Styles given as one batch: every warning named "style image 0" (the chunk's index, not the image's), so the
    user was pointed at an image that was fine; a list of the same images named the right ones."""
    tissue = torch.from_numpy(histology_crops[0][:64, :64]).permute(2, 0, 1)
    glass = torch.full_like(tissue, 250)
    batch = torch.stack([tissue, glass, tissue, glass, glass])
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.bank"):
        StyleBank.from_images(batch, small_stylizer, encode=False, crops_per_image=2, crop_size=32, tissue_only=True,
                              domains=list("abcde"), chunk_size=chunk_size)
    said = " | ".join(r.getMessage() for r in caplog.records)
    named = {int(n) for n in re.findall(r"style image (\d+): only 0 of", said)}
    assert named == {1, 3, 4}, said
    assert "'b' (1 image(s), e.g. style image 1)" in said and "'e' (1 image(s), e.g. style image 4)" in said


def test_some_content_domains_the_bank_lacks_are_named_once_each(small_stylizer, caplog):
    bank = StyleBank(_random_images(4), small_stylizer, domains=["lab_a", "lab_a", "lab_b", "lab_b"])
    with caplog.at_level(logging.WARNING, logger="stylizing_vit_aug.bank.sampling"):
        for _ in range(2):
            bank.sample(3, strategy="other_domain", content_domains=["lab_a", "lab_c", "lab_b"])
        bank.sample(2, strategy="other_domain", content_domains=["lab_a", "lab_d"])
        bank.sample(2, strategy="other_domain", content_domains=["lab_a", "lab_b"])
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and "['lab_c']" in said[0] and "['lab_d']" in said[1]
    assert "['lab_a', 'lab_b']" in said[0]
