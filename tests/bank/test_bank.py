"""StyleBank: building from every source, lazy cached streams, sampling, files, errors."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import stylizing_vit_aug as sva
from helpers import (
    CAMELYON_MEAN,
    CAMELYON_STD,
    examples,
    make_small_model,
    make_small_stylizer,
    truncated_jpeg,
    write_images,
)
from stylizing_vit_aug import bank as bank_module
from stylizing_vit_aug import cli
from stylizing_vit_aug.bank import (
    BankFileError,
    BankMismatch,
    StyleBank,
    bundled_bank,
    stream_bytes_per_style,
)
from stylizing_vit_aug.images import ImageReadError
from stylizing_vit_aug.model import PRESETS, ModelConfig


@pytest.fixture
def crops_bank(small_stylizer, histology_crops) -> StyleBank:
    return StyleBank.from_images(histology_crops, small_stylizer, domains=["a", "a", "b", "b", "c"])


def test_documented_memory_table_matches_the_formula_and_real_streams(small_stylizer, crops_bank):
    doc = bank_module.__doc__
    for name, preset in PRESETS.items():
        config = ModelConfig(**preset)
        row = re.search(rf"^{name}\s+(\d+)\s+(\d+)\s+([\d,]+) B\s+([\d,]+) B\s+([\d.]+) GB", doc, re.MULTILINE)
        assert row is not None, f"no memory row for {name}"
        assert int(row[1]) == config.depth and int(row[2]) == config.embed_dim
        assert int(row[3].replace(",", "")) == stream_bytes_per_style(config, torch.float32)
        assert int(row[4].replace(",", "")) == stream_bytes_per_style(config, torch.float16)
        assert float(row[5]) == pytest.approx(stream_bytes_per_style(config, torch.float16) * 1e4 / 1e9, abs=0.05)
    stream = crops_bank.streams
    assert stream.nbytes_per_style == stream_bytes_per_style(small_stylizer.config, stream.dtype)
    half = StyleBank.from_images(crops_bank.images, small_stylizer, stream_dtype=torch.float16)
    assert half.streams.dtype == torch.float16 and half.bytes_per_style * 2 == stream_bytes_per_style(
        small_stylizer.config, torch.float32
    )


def test_from_images_takes_every_kind_and_stores_uint8_at_model_size(small_stylizer, histology_crops):
    pil = Image.fromarray(histology_crops[0])
    gray = np.asarray(pil.convert("L"))
    batch = torch.from_numpy(np.stack(histology_crops[:2])).permute(0, 3, 1, 2).float() / 255
    for images, count in ((histology_crops, 5), ([pil, gray], 2), (batch, 2), (pil, 1)):
        bank = StyleBank.from_images(images, small_stylizer, encode=False)
        assert len(bank) == count
        assert bank.images.dtype == torch.uint8 and bank.images.device.type == "cpu"
        assert tuple(bank.images.shape[1:]) == (3, 32, 32)
    cropped = StyleBank.from_images(histology_crops[:2], small_stylizer, domains=["x", "y"], crops_per_image=3)
    assert len(cropped) == 6 and cropped.domains == ["x"] * 3 + ["y"] * 3
    assert cropped.domain_names == ["x", "y"]
    assert not torch.equal(cropped.images[0], cropped.images[1])  # different random crops


def test_streams_are_the_stylizers_encoding_and_lazy_per_chunk(small_stylizer, histology_crops):
    bank = StyleBank.from_images(histology_crops, small_stylizer, encode=False, chunk_size=2)
    assert bank.num_encoded == 0
    got = bank.stream([4, 1])
    assert bank.num_encoded == 3  # chunks {0, 1} and {4}; {2, 3} untouched
    expected = small_stylizer.encode_style(bank.images[[4, 1]])
    torch.testing.assert_close(got.layers, expected.layers)
    assert got.device == small_stylizer.device
    torch.testing.assert_close(bank.streams.layers[:, [4, 1]], expected.layers)
    assert bank.num_encoded == 5


def test_ten_thousand_styles_build_save_load_and_sample_without_reencoding(tmp_path, monkeypatch):
    stylizer = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32)
    images = torch.randint(0, 256, (10_000, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    domains = [f"site{i % 7}" for i in range(10_000)]
    bank = StyleBank.from_images(images, stylizer, domains=domains, stream_dtype=torch.float16, chunk_size=512)
    assert bank.num_encoded == 10_000
    path = bank.save(tmp_path / "big.safetensors")

    def refuse(*args, **kwargs):
        raise AssertionError("the saved streams must be used, not re-encoded")

    monkeypatch.setattr(stylizer.model, "encode_style", refuse)
    loaded = StyleBank.load(path, stylizer)
    assert len(loaded) == 10_000 and loaded.domains == domains and loaded.num_encoded == 10_000
    assert torch.equal(loaded.images, bank.images)
    index = loaded.sample(256, generator=torch.Generator().manual_seed(1), strategy="balanced")
    assert torch.equal(loaded.stream(index).layers, bank.stream(index).layers)
    assert loaded.stream(index).dtype == torch.float16
    assert loaded.path == path.resolve()


def test_each_style_colour_profile_is_made_once(small_stylizer, histology_crops, monkeypatch):
    """Encoding streams does not also profile colours: the bank makes every style's profile once,
    from its own images, and the streams carry it."""
    from stylizing_vit_aug import stylizer as stylizer_module

    profiled = []
    original = stylizer_module.colour_profile
    monkeypatch.setattr(stylizer_module, "colour_profile", lambda v, s: profiled.append(len(v)) or original(v, s))
    crops_bank = StyleBank.from_images(histology_crops, small_stylizer)
    first = crops_bank.stream([0, 1])
    every = crops_bank.streams
    again = crops_bank.stream([3, 4])
    assert sum(profiled) == len(crops_bank)
    assert first.colours is not None and torch.equal(first.colours, every.colours[:2])
    assert torch.equal(again.colours, every.colours[3:5])


def test_load_with_another_stylizer_fails_clearly_or_reencodes(tmp_path, small_stylizer, crops_bank):
    path = crops_bank.save(tmp_path / "bank.safetensors")
    other = sva.Stylizer(make_small_model(seed=1), CAMELYON_MEAN, CAMELYON_STD, device="cpu", source="other-ckpt")
    with pytest.raises(BankMismatch) as error:
        StyleBank.load(path, other)
    message = str(error.value)
    assert small_stylizer.fingerprint in message and other.fingerprint in message and "other-ckpt" in message
    assert "reencode" in message
    reencoded = StyleBank.load(path, other, on_mismatch="reencode")
    assert reencoded.num_encoded == 0 and reencoded.domains == crops_bank.domains
    torch.testing.assert_close(reencoded.stream([0, 3]).layers, other.encode_style(crops_bank.images[[0, 3]]).layers)
    bigger = sva.Stylizer(make_small_model(seed=2, img_size=48), CAMELYON_MEAN, CAMELYON_STD, device="cpu")
    resized = StyleBank.load(path, bigger, on_mismatch="reencode")
    assert tuple(resized.images.shape) == (5, 3, 48, 48) and len(resized.stream([1])) == 1


def test_a_bank_is_not_saved_under_a_pickle_name_or_onto_a_folder(tmp_path, crops_bank):
    with pytest.raises(ValueError, match=r"name it .*bank\.safetensors, not .*bank\.pth"):
        crops_bank.save(tmp_path / "bank.pth")
    (tmp_path / "folder.safetensors").mkdir()
    with pytest.raises(IsADirectoryError, match=r"folder\.safetensors: it is a folder"):
        crops_bank.save(tmp_path / "folder.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.safetensors"]  # nothing written, no temporary


def test_loading_a_folder_says_it_is_a_folder_and_which_file_to_pass(tmp_path, small_stylizer, crops_bank):
    folder = r"is a folder; StyleBank\.load reads one bank file .*from_folder"
    with pytest.raises(IsADirectoryError, match=folder) as error:
        StyleBank.load(tmp_path, small_stylizer)
    assert "does not exist" not in str(error.value)
    crops_bank.save(tmp_path / "mine.safetensors")
    with pytest.raises(IsADirectoryError, match=r"e\.g\. .*mine\.safetensors \(this folder holds mine\.safetensors\)"):
        StyleBank.load(tmp_path, small_stylizer)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        StyleBank.load(tmp_path / "other.safetensors", small_stylizer)


def test_a_folder_or_a_missing_bank_is_refused_alike_by_load_and_bank_info(
    tmp_path, small_stylizer, crops_bank, capsys
):
    crops_bank.save(tmp_path / "mine.safetensors")
    (tmp_path / "gone.safetensors").symlink_to(tmp_path / "nowhere.safetensors")
    cases = [
        (tmp_path, IsADirectoryError, "is a folder"),
        (tmp_path / "other.safetensors", FileNotFoundError, "does not exist"),
        (tmp_path / "gone.safetensors", FileNotFoundError, "is a broken symbolic link"),
    ]
    for path, kind, says in cases:
        with pytest.raises(kind, match=says) as raised:
            StyleBank.load(path, small_stylizer)
        assert cli.main(["bank", "info", str(path)]) == 2  # a usage error, with the same words
        assert str(raised.value).replace("StyleBank.load", "bank info") in capsys.readouterr().err
        assert "checkpoint" not in str(raised.value) and "load_stylizer" not in str(raised.value)
    folder = cases[0][0]
    with pytest.raises(IsADirectoryError, match=r"\(this folder holds mine\.safetensors\)"):  # not the broken link
        StyleBank.load(folder, small_stylizer)


def test_save_without_streams_and_load_round_trip(tmp_path, small_stylizer, crops_bank):
    path = crops_bank.save(tmp_path / "light.safetensors", streams=False)
    loaded = StyleBank.load(path, small_stylizer)
    assert loaded.num_encoded == 0 and torch.equal(loaded.images, crops_bank.images)
    torch.testing.assert_close(loaded.stream([2]).layers, crops_bank.stream([2]).layers)
    (tmp_path / "not_a_bank.safetensors").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read bank file"):
        StyleBank.load(tmp_path / "not_a_bank.safetensors", small_stylizer)


def test_sampling_statistics_and_determinism(small_stylizer):
    images = torch.randint(0, 256, (100, 3, 32, 32), dtype=torch.uint8)
    bank = StyleBank.from_images(images, small_stylizer, domains=["big"] * 90 + ["rare"] * 10, encode=False)

    def draw(strategy: str, seed: int, **kw) -> torch.Tensor:
        return bank.sample(4000, generator=torch.Generator().manual_seed(seed), strategy=strategy, **kw)

    def rare_share(index: torch.Tensor) -> float:
        return float((index >= 90).float().mean())

    assert rare_share(draw("uniform", 0)) == pytest.approx(0.10, abs=0.025)
    assert rare_share(draw("balanced", 0)) == pytest.approx(0.50, abs=0.03)
    balanced = draw("balanced", 0)
    assert len(balanced[balanced >= 90].unique()) == 10  # every style of the rare domain shows up
    content = ["big"] * 2000 + ["rare"] * 2000
    other = draw("other_domain", 0, content_domains=content)
    assert bool((other[:2000] >= 90).all()) and bool((other[2000:] < 90).all())
    unknown = draw("other_domain", 0, content_domains=["elsewhere"] * 4000)
    assert rare_share(unknown) == pytest.approx(0.5, abs=0.03)
    assert torch.equal(draw("balanced", 7), draw("balanced", 7))
    assert not torch.equal(draw("balanced", 7), draw("balanced", 8))


def test_content_domains_the_bank_does_not_know_are_said_once(small_stylizer, caplog, monkeypatch):
    # integer labels for a bank built from folders: "another domain" cannot be told, and that is said
    from stylizing_vit_aug.images import kinds

    monkeypatch.setattr(kinds, "_told", set())
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    bank = StyleBank.from_images(images, small_stylizer, domains=["lab_a", "lab_a", "lab_b", "lab_b"], encode=False)
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.bank.sampling"):
        bank.sample(2, strategy="other_domain", content_domains=["lab_a", 7])  # one known: 7 alone is named
        assert len(caplog.records) == 1 and "['7']" in caplog.records[0].getMessage()
        caplog.clear()
        for _ in range(2):
            bank.sample(3, strategy="other_domain", content_domains=[0, 1, 0])
    (record,) = caplog.records
    assert "['0', '1']" in record.getMessage() and "['lab_a', 'lab_b']" in record.getMessage()
    assert "domains=" in record.getMessage()


def test_a_second_bank_with_unknown_content_domains_says_so_too(small_stylizer, caplog):
    """Once per bank, not once per process: a second mismatched bank is not silent."""
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    banks = [StyleBank.from_images(images, small_stylizer, domains=labels, encode=False)
             for labels in (["lab_a", "lab_a", "lab_b", "lab_b"], ["x", "y", "x", "y"])]
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.bank.sampling"):
        for bank in (*banks, *banks):
            bank.sample(3, strategy="other_domain", content_domains=[0, 1, 0])
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 2 and "['lab_a', 'lab_b']" in said[0] and "['x', 'y']" in said[1]


def test_each_unknown_content_domain_is_named_once_whichever_batch_it_comes_in(small_stylizer, caplog):
    """One record of what was said per bank: a label named as the whole batch's is not named again
    beside a known one, and a new unknown label is named even when no label of its batch is known."""
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    bank = StyleBank.from_images(images, small_stylizer, domains=["lab_a", "lab_a", "lab_b", "lab_b"], encode=False)
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.bank.sampling"):
        for content_domains in ([0, 1], ["lab_a", 0], [2, 2], ["lab_b", 1, 2]):
            bank.sample(len(content_domains), strategy="other_domain", content_domains=content_domains)
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 2 and "none of the content domains ['0', '1']" in said[0]
    assert "none of the content domains ['2']" in said[1]


def test_per_sample_ids_given_as_domains_are_named_up_to_a_limit_then_no_more(small_stylizer, caplog):
    """A patient's or slide's id per sample given as domains= is unknown to the bank each time: each new id was a
    warning line of its own for the whole run (a memory probe: 43 in 200 batches). Up to the limit they are named,
    the last warning says no more will be and asks whether the labels are ids; then silence."""
    from stylizing_vit_aug.bank.sampling import UNKNOWN_LABELS_NAMED

    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    bank = StyleBank.from_images(images, small_stylizer, domains=["lab_a", "lab_a", "lab_b", "lab_b"], encode=False)
    with caplog.at_level("WARNING", logger="stylizing_vit_aug.bank.sampling"):
        for batch in range(3 * UNKNOWN_LABELS_NAMED // 4):
            ids = [f"patient{4 * batch + i:03d}" for i in range(4)]
            bank.sample(4, strategy="other_domain", content_domains=["lab_a", *ids[1:]])
    said = [record.getMessage() for record in caplog.records]
    named = {label for message in said for label in re.findall(r"patient\d+", message)}
    assert len(named) == UNKNOWN_LABELS_NAMED and len(said) < UNKNOWN_LABELS_NAMED
    assert "no more are named" in said[-1] and all("no more are named" not in message for message in said[:-1])


@settings(max_examples=examples(40))
@given(value=st.integers(-(2**31), 2**31))
def test_a_whole_number_label_is_one_domain_in_every_number_type(value):
    """1, 1.0, np.float32(1), np.int64(1), np.array(1.0) and torch.tensor(1.) name one domain."""
    from stylizing_vit_aug.bank.sampling import label_of

    forms = [value, float(value), np.int64(value), np.float64(value), np.array(value), np.array(float(value)),
             torch.tensor(value), torch.tensor(float(value), dtype=torch.float64)]
    if abs(value) <= 2**24:  # exact in float32
        forms += [np.float32(value), torch.tensor(float(value))]
    if abs(value) <= 2048:  # exact in float16
        forms += [np.float16(value)]
    assert {label_of(form) for form in forms} == {str(value)}
    assert label_of(np.float32(0.5)) == label_of(0.5) == "0.5" and label_of(np.str_("lab")) == "lab"
    with pytest.raises(ValueError, match=r"one value per image, got an array of shape \(2,\)"):
        label_of(np.array([value, value]))


@pytest.mark.parametrize("label", [None, True, False, np.bool_(True), torch.tensor(True)])
def test_none_and_booleans_are_no_domain_labels(label, small_stylizer, histology_crops):
    """``None`` made a domain called "None" (a missing label became a lab of its own), and ``True``
    a domain apart from ``1`` though they are equal in Python: both are refused, saying what to pass."""
    styles = torch.stack([torch.from_numpy(c).permute(2, 0, 1) for c in histology_crops[:2]])
    with pytest.raises(ValueError, match="a domain label must be a name or a number.*domains=None"):
        StyleBank.from_images(styles, small_stylizer, domains=[label, "a"], encode=False)


def test_style_indices_must_be_whole_numbers(crops_bank):
    """A fraction is refused, as StyleTTA refuses it: 1.7 is not style 1."""
    for bad in ([1.7], np.array([0.5]), torch.tensor([1.0]), [True]):
        with pytest.raises(ValueError, match="whole numbers"):
            crops_bank.stream(bad)
        with pytest.raises(ValueError, match="whole numbers"):
            crops_bank.style_images(bad)
    expected = crops_bank.stream([1]).layers
    for index in (1, [1], np.array([1]), np.int64(1), torch.tensor([1]), -4):
        assert torch.equal(crops_bank.stream(index).layers, expected)
    assert crops_bank.stream([]).layers.shape[1] == 0


def test_repr_says_none_for_a_bank_without_domains(small_stylizer, crops_bank):
    plain = StyleBank.from_images(torch.zeros(2, 3, 32, 32, dtype=torch.uint8), small_stylizer, encode=False)
    assert "domains=None" in repr(plain) and "domains=[]" not in repr(plain)
    assert "domains=['a', 'b', 'c']" in repr(crops_bank)


def test_style_images_crops_and_color_stats(crops_bank):
    whole = crops_bank.style_images([0, 1])
    assert whole.shape == (2, 3, 32, 32) and whole.dtype == torch.float32
    torch.testing.assert_close(whole, crops_bank.images[[0, 1]].float() / 255)

    def crop(seed: int) -> torch.Tensor:
        return crops_bank.style_images([0, 1], crop=0.5, generator=torch.Generator().manual_seed(seed))

    assert crop(0).shape == whole.shape and torch.equal(crop(0), crop(0))
    assert not torch.equal(crop(0), crop(1)) and not torch.equal(crop(0), whole)
    stats = crops_bank.color_stats()
    values = crops_bank.images.float() / 255
    assert stats.shape == (5, 6)
    torch.testing.assert_close(stats[:, :3], values.mean(dim=(2, 3)))
    torch.testing.assert_close(stats[:, 3:], values.std(dim=(2, 3), unbiased=False))


def test_from_folder_and_from_dataset(tmp_path, small_stylizer, histology_crops):
    for site, suffix in (("siteA", ".png"), ("siteB", ".jpg"), ("siteC", ".tif")):
        (tmp_path / site / "deep").mkdir(parents=True)
        Image.fromarray(histology_crops[0]).save(tmp_path / site / f"one{suffix}")
        Image.fromarray(histology_crops[1]).save(tmp_path / site / "deep" / f"two{suffix}")
    (tmp_path / "siteA" / "notes.txt").write_text("not an image")
    (tmp_path / "siteA" / "._one.png").write_bytes(b"AppleDouble metadata, not an image")
    bank = StyleBank.from_folder(tmp_path, small_stylizer, encode=False)
    assert len(bank) == 6 and bank.domain_names == ["siteA", "siteB", "siteC"]
    mapping = {"siteA/one.png": "x", "two.png": "y", "one": "z", "two": "w"}
    mapped = StyleBank.from_folder(tmp_path, small_stylizer, domains=mapping, encode=False)
    assert mapped.domains[:2] == ["y", "x"] and set(mapped.domains[2:]) == {"z", "w"}
    with pytest.raises(ValueError, match="no domain for siteA/deep/two.png in the domains mapping .*add one of them"):
        StyleBank.from_folder(tmp_path, small_stylizer, domains={"one": "z"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no .* images found"):
        StyleBank.from_folder(tmp_path / "empty", small_stylizer)

    dataset = [(torch.from_numpy(c).permute(2, 0, 1), label) for c, label in zip(histology_crops, [0, 1, 0, 1, 1])]
    from_ds = StyleBank.from_dataset(dataset, small_stylizer, domains="targets", encode=False)
    assert len(from_ds) == 5 and from_ds.domains == ["0", "1", "0", "1", "1"]


def test_bundled_bank_has_crops_of_each_source(small_stylizer):
    bank = bundled_bank(small_stylizer, crops_per_image=2)
    assert len(bank) == 10 and len(bank.domain_names) == 5 and bank.num_encoded == 0
    assert bundled_bank(small_stylizer, crops_per_image=2) is bank  # built once per process


def test_the_bundled_bank_keeps_only_the_last_few_stylizers_alive():
    """A transform made from each epoch's checkpoint, with no bank=, asks for the bundled bank of a new stylizer
    each time: every bank (its stylizer and encoded styles with it) stayed in the process, about 35 MB an epoch
    for the bundled default's size. Only the CACHED_SOURCES most recently used are kept; the latest is served."""
    import gc
    import weakref

    from stylizing_vit_aug._state_cache import CACHED_SOURCES

    alive = []
    for epoch in range(CACHED_SOURCES + 3):
        stylizer = make_small_stylizer()
        with torch.no_grad():
            stylizer.model.encoder.norm.bias.add_(epoch)  # each epoch's weights: another fingerprint
        bank = bundled_bank(stylizer, crops_per_image=1)
        alive.append(weakref.ref(stylizer))
        assert bundled_bank(stylizer, crops_per_image=1) is bank
    del stylizer, bank
    gc.collect()
    kept = [ref for ref in alive if ref() is not None]
    assert len(kept) == CACHED_SOURCES and kept == alive[-CACHED_SOURCES:]


def test_bad_input_gives_clear_errors(small_stylizer, histology_crops):
    with pytest.raises(ValueError, match="at least one style"):
        StyleBank.from_images([], small_stylizer)
    with pytest.raises(ValueError, match="5 channels"):
        StyleBank.from_images(np.zeros((32, 32, 5), np.uint8), small_stylizer)
    with pytest.raises(ValueError, match="at least 8x8"):
        StyleBank.from_images(np.zeros((4, 4, 3), np.uint8), small_stylizer)
    with pytest.raises(ValueError, match="NaN or Inf"):
        StyleBank.from_images(np.full((16, 16, 3), np.nan, np.float32), small_stylizer)
    with pytest.raises(ValueError, match="one per image"):
        StyleBank.from_images(histology_crops, small_stylizer, domains=["a"])
    bank = StyleBank.from_images(histology_crops[:2], small_stylizer, domains=["a", "a"], encode=False)
    with pytest.raises(ValueError, match="no other domain"):
        bank.sample(3, strategy="other_domain", content_domains=["a"] * 3)
    with pytest.raises(ValueError, match="strategy must be one of"):
        bank.sample(3, strategy="nearest")
    with pytest.raises(IndexError, match="out of range"):
        bank.stream([2])
    plain = StyleBank.from_images(histology_crops[:2], small_stylizer, encode=False)
    with pytest.raises(ValueError, match="needs a bank with domains"):
        plain.sample(3, strategy="balanced")
    with pytest.raises(ValueError, match="stream_dtype"):
        StyleBank.from_images(histology_crops[:2], small_stylizer, stream_dtype=torch.int8)


@settings(max_examples=examples(25))
@given(
    batch=st.integers(1, 3), per_image=st.integers(1, 5), height=st.integers(8, 40), width=st.integers(8, 40),
    crop=st.floats(0.1, 1.0), seed=st.integers(0, 2**16),
)
def test_several_crops_per_image_are_cut_from_the_image_itself(batch, per_image, height, width, crop, seed):
    """Crops of one image drawn together equal those drawn from copies of it (same seed, same
    order), so a bank of many crops per large image never holds the image several times."""
    from stylizing_vit_aug.image_ops import random_crop_resize

    images = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))
    copies = random_crop_resize(images.repeat_interleave(per_image, 0), crop, 8, torch.Generator().manual_seed(seed))
    direct = random_crop_resize(images, crop, 8, torch.Generator().manual_seed(seed), per_image=per_image)
    assert direct.shape == (batch * per_image, 3, 8, 8)
    assert torch.equal(direct, copies)


def test_crops_per_image_must_be_a_positive_integer():
    from stylizing_vit_aug.image_ops import random_crop_resize

    with pytest.raises(ValueError, match="per_image must be a positive integer"):
        random_crop_resize(torch.rand(1, 3, 8, 8), 0.5, 4, per_image=0)


def test_bank_build_and_from_folder_skip_unreadable_files(tmp_path, checkpoint, small_stylizer, capsys):
    styles = tmp_path / "styles"
    write_images(styles / "lab_a", 2)
    write_images(styles / "lab_b", 1)
    bad = truncated_jpeg(styles / "lab_b" / "broken.jpg")
    bank = StyleBank.from_folder(styles, small_stylizer)
    assert len(bank) == 3 and bank.domains == ["lab_a", "lab_a", "lab_b"]
    assert [path for path, _ in bank.skipped] == [bad] and "truncated" in bank.skipped[0][1]
    with pytest.raises(ImageReadError, match="truncated") as info:
        StyleBank.from_folder(styles, small_stylizer, on_error="stop")
    assert str(bad) in str(info.value)
    with pytest.raises(ValueError, match="on_error"):
        StyleBank.from_folder(styles, small_stylizer, on_error="ignore")

    out = tmp_path / "bank.safetensors"
    argv = ["bank", "build", str(styles), "-o", str(out), "--checkpoint", checkpoint]
    assert cli.main(argv) == cli.EXIT_SKIPPED
    assert len(StyleBank.load(out, small_stylizer, on_mismatch="reencode")) == 3
    assert str(bad) in capsys.readouterr().err
    assert cli.main([*argv, "--on-error", "stop", "-o", str(tmp_path / "stopped.safetensors")]) == 2
    assert str(bad) in capsys.readouterr().err and not (tmp_path / "stopped.safetensors").exists()


def test_a_bank_object_is_refused_by_another_stylizer_everywhere(small_stylizer, crops_bank):
    other = sva.Stylizer(make_small_model(seed=1), CAMELYON_MEAN, CAMELYON_STD, device="cpu", source="other-ckpt")
    fronts = [
        lambda: sva.StylizeTransform(other, crops_bank),
        lambda: sva.BatchStylize(other, crops_bank),
        lambda: sva.StyleTTA(torch.nn.Identity(), other, crops_bank, n_styles=1),
    ]
    for make in fronts:
        with pytest.raises(BankMismatch, match=f"fingerprint {other.fingerprint}.*other-ckpt.*bank.stylizer"):
            make()
    same_weights = sva.Stylizer(make_small_model(seed=0), CAMELYON_MEAN, CAMELYON_STD, device="cpu")
    assert same_weights.fingerprint == small_stylizer.fingerprint
    sva.BatchStylize(same_weights, crops_bank)  # equal weights: the same stylizer for a bank


def test_weights_changed_in_place_change_the_fingerprint_and_reencode_the_bank(small_stylizer, crops_bank):
    before = crops_bank.stream([0, 3]).layers.clone()
    fingerprint = small_stylizer.fingerprint
    with torch.no_grad():
        next(small_stylizer.model.parameters()).mul_(1.5)  # a fine-tuning step, in place
    assert small_stylizer.fingerprint != fingerprint
    after = crops_bank.stream([0, 3]).layers
    torch.testing.assert_close(after, small_stylizer.encode_style(crops_bank.images[[0, 3]]).layers)
    assert not torch.allclose(after, before)
    assert small_stylizer.fingerprint == small_stylizer.fingerprint  # stable while nothing changes


def test_writes_no_version_counter_sees_are_announced_with_increment_version(small_stylizer, crops_bank):
    """A fused optimiser step and writes through ``.data`` bump no version counter, so the bank
    cannot notice them; torch.autograd.graph.increment_version, as docs/style-banks.md says, makes
    it re-encode (and the fingerprint hash again)."""
    crops_bank.stream([0, 3])
    fingerprint = small_stylizer.fingerprint
    params = list(small_stylizer.model.parameters())
    optimiser = torch.optim.AdamW(params, lr=0.1, fused=True)
    for p in params:
        p.grad = torch.ones_like(p)
    optimiser.step()
    params[0].data.mul_(1.5)
    torch.autograd.graph.increment_version(params)
    assert small_stylizer.fingerprint != fingerprint
    expected = small_stylizer.encode_style(crops_bank.images[[0, 3]]).layers
    torch.testing.assert_close(crops_bank.stream([0, 3]).layers, expected)


def test_a_changed_background_remakes_the_colour_profiles_the_bank_hands_out(small_stylizer, histology_paths):
    """The profiles read the pixels the stylizer styles: tissue with background="keep", every
    pixel with "style". Set after the bank made them, the old ones were handed out."""
    images = [np.asarray(Image.open(path).convert("RGB").resize((64, 48))) for path in histology_paths]
    bank = StyleBank.from_images(images, small_stylizer)  # whole slides, glass included
    kept = bank.stream([0, 1]).colours
    small_stylizer.background = "style"
    every_pixel = bank.stream([0, 1]).colours
    assert torch.equal(every_pixel, small_stylizer.colour_profiles(bank.style_images([0, 1])))
    assert not torch.equal(every_pixel, kept)
    assert torch.equal(bank.streams.colours[[0, 1]], every_pixel)
    small_stylizer.background = "keep"
    assert torch.equal(bank.stream([0, 1]).colours, kept)


def test_equal_weights_under_another_head_count_are_another_stylizer(tmp_path, small_stylizer, crops_bank):
    other = sva.Stylizer(make_small_model(num_heads=6), CAMELYON_MEAN, CAMELYON_STD, device="cpu")
    other.model.load_state_dict(small_stylizer.model.state_dict())  # the same tensors, other attention heads
    assert other.fingerprint == small_stylizer.fingerprint
    with pytest.raises(BankMismatch):
        sva.BatchStylize(other, crops_bank)
    path = crops_bank.save(tmp_path / "bank.safetensors")
    with pytest.raises(BankMismatch):
        StyleBank.load(path, other)
    assert StyleBank.load(path, other, on_mismatch="reencode").num_encoded == 0


def test_equal_weights_under_another_head_count_get_their_own_sample_bank(small_stylizer):
    other = sva.Stylizer(make_small_model(num_heads=6), CAMELYON_MEAN, CAMELYON_STD, device="cpu")
    other.model.load_state_dict(small_stylizer.model.state_dict())
    ours = bundled_bank(small_stylizer, crops_per_image=1)
    theirs = bundled_bank(other, crops_per_image=1)
    assert theirs.stylizer is other and ours.stylizer is small_stylizer
    sva.BatchStylize(other, theirs)  # the bank is the other stylizer's: no mismatch


def test_a_stylizer_of_the_same_weights_with_other_settings_gets_its_own_sample_bank(small_stylizer, monkeypatch):
    """After load_stylizer(background="keep") had the sample bank, a "dark" stylizer of the same weights got that
    bank: its crops picked by "keep"'s rule and bank.stylizer.background "keep" (what a saved bank records); a
    bfloat16 one got styles encoded in float32."""
    monkeypatch.setattr(bank_module.bundled, "_BUNDLED", {})
    first = bundled_bank(small_stylizer, crops_per_image=1)
    for setting in ({"background": "dark"}, {"mode": "relative", "colour_match": False}, {"dtype": torch.bfloat16}):
        options = {**small_stylizer.settings, "dtype": small_stylizer.dtype, **setting}
        other = sva.Stylizer(small_stylizer.model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", **options)
        assert other.fingerprint == small_stylizer.fingerprint  # a bank counts them as one network
        bank = bundled_bank(other, crops_per_image=1)
        assert bank.stylizer is other and (bank.stylizer.settings, bank.stylizer.dtype) == (other.settings, other.dtype)
        assert bundled_bank(other, crops_per_image=1) is bank
    assert bundled_bank(small_stylizer, crops_per_image=1) is first


def test_a_sample_bank_whose_stylizer_was_changed_in_place_is_not_handed_out_for_the_old_settings(
    small_stylizer, monkeypatch
):
    """Two stylizers of the same weights and settings share one sample bank, holding the first; the first set to
    "dark" in place then made that bank say "dark" to the other, "keep" one."""
    monkeypatch.setattr(bank_module.bundled, "_BUNDLED", {})
    options = {**small_stylizer.settings, "dtype": small_stylizer.dtype}
    first, second = (sva.Stylizer(small_stylizer.model, CAMELYON_MEAN, CAMELYON_STD, device="cpu", **options)
                     for _ in range(2))
    shared = bundled_bank(first, crops_per_image=1)
    assert bundled_bank(second, crops_per_image=1) is shared
    first.background = "dark"
    assert bundled_bank(second, crops_per_image=1).stylizer.background == "keep"
    assert bundled_bank(first, crops_per_image=1).stylizer.background == "dark"


def test_crops_that_repeat_or_are_enlarged_to_a_smear_are_said(small_stylizer, caplog):
    """--crops-per-image 3 --crop-size 300 on 64-px images gave three identical styles per image,
    and --crop-size 4 blew 4-px crops up to the model size, both without a word."""
    rng = np.random.default_rng(0)
    square, wide = rng.integers(0, 256, (64, 64, 3), np.uint8), rng.integers(0, 256, (64, 200, 3), np.uint8)
    with caplog.at_level("WARNING"):
        bank = StyleBank.from_images([square, wide], small_stylizer, crops_per_image=3, crop_size=300)
    warned = [r.getMessage() for r in caplog.records if "no larger than the 300 px crop" in r.getMessage()]
    assert len(warned) == 1 and "style image 0 (64x64)" in warned[0] and "style image 1" not in warned[0]
    assert torch.equal(bank.images[0], bank.images[2])  # what the warning says: the same style 3 times
    assert not torch.equal(bank.images[3], bank.images[5])  # a wide image's crops still differ
    caplog.clear()
    with caplog.at_level("WARNING"):
        StyleBank.from_images([square], small_stylizer, crops_per_image=1, crop_size=4)
    assert any("enlarged 8x" in r.getMessage() for r in caplog.records)


def test_a_bank_file_with_nan_streams_is_named_for_its_nan_values(tmp_path, small_stylizer, crops_bank):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = crops_bank.save(tmp_path / "bank.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(path))
    assert "streams" in tensors
    tensors["streams"][0, 0, 0, :3] = float("nan")
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(BankFileError, match=r"style streams hold 3 NaN/Inf values of [\d,]+ .*build it again"):
        StyleBank.load(path, small_stylizer)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("config", "[1]", "'config' metadata is [1], not a mapping"),
        ("domains", '["a"]', "'domains' metadata is not 5 labels"),
        ("chunk_size", "many", "'chunk_size' metadata is 'many', not a whole number"),
        ("source", "{not json", "'source' metadata is not JSON"),
    ],
)
def test_load_and_bank_info_read_the_metadata_alike(tmp_path, small_stylizer, crops_bank, field, value, says):
    """One parse of a bank file's metadata: a malformed field is the same BankFileError from
    StyleBank.load as from `bank info` (load took a config that is no mapping for another
    stylizer's, and named the others in its own words)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    from stylizing_vit_aug.bank.storage import read_bank_info

    path = crops_bank.save(tmp_path / "bank.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    save_file(load_file(str(path)), str(path), metadata={**metadata, field: value})
    with pytest.raises(BankFileError, match=re.escape(says)) as info:
        read_bank_info(path)
    with pytest.raises(BankFileError) as load:
        StyleBank.load(path, small_stylizer)
    assert str(load.value) == str(info.value)


def test_a_bank_file_without_a_fingerprint_is_refused_by_load(tmp_path, small_stylizer, crops_bank):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = crops_bank.save(tmp_path / "bank.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        metadata = {k: v for k, v in handle.metadata().items() if k != "fingerprint"}
    save_file(load_file(str(path)), str(path), metadata=metadata)
    with pytest.raises(BankFileError, match="records no stylizer fingerprint.*build it again"):
        StyleBank.load(path, small_stylizer)


def test_a_bank_of_a_stylizer_without_the_colour_step_serves_one_with_it(small_stylizer, histology_crops):
    """Same weights, other colour settings: the stylizer doing the work decides the colour step.
    A bank built by a ``colour_match=False`` stylizer gave its streams no colour profiles, so a
    front-end or StyleTTA with ``colour_match=True`` skipped its colour step, silently."""
    import copy

    from stylizing_vit_aug import BatchStylize

    plain = copy.copy(small_stylizer)
    plain.colour_match = False
    styles = torch.stack([torch.from_numpy(c).permute(2, 0, 1) for c in histology_crops[:3]])
    theirs, own = StyleBank.from_images(styles, plain), StyleBank.from_images(styles, small_stylizer)
    assert theirs.stream([0]).colours is None
    torch.testing.assert_close(theirs.stream([0, 2], stylizer=small_stylizer).colours, own.stream([0, 2]).colours)
    x = styles[1:2].float().div(255).repeat(2, 1, 1, 1)
    outs = [BatchStylize(small_stylizer, bank, p=1.0, generator=torch.Generator().manual_seed(0))(x)
            for bank in (theirs, own)]
    torch.testing.assert_close(outs[0], outs[1])


def test_images_beside_the_subfolders_take_the_folders_own_name_however_it_is_given(tmp_path, small_stylizer,
                                                                                  histology_crops, monkeypatch):
    """``from_folder(".")`` named the domain of the images directly in it "" (``Path(".").name``)."""
    lab = tmp_path / "lab_a"
    (lab / "sub").mkdir(parents=True)
    Image.fromarray(histology_crops[0]).save(lab / "loose.png")
    Image.fromarray(histology_crops[1]).save(lab / "sub" / "nested.png")
    monkeypatch.chdir(lab)
    for folder in (".", "sub/..", str(lab)):
        assert sorted(StyleBank.from_folder(folder, small_stylizer, encode=False).domains) == ["lab_a", "sub"]
