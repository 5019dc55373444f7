"""AlbumentationsStylize: seeded reproducibility, targets, dtypes, batches, serialisation."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import albumentations as A
import numpy as np
import pytest

from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.transforms import _common
from stylizing_vit_aug.transforms.albumentations import AlbumentationsStylize


@pytest.fixture
def image(histology_crops) -> np.ndarray:
    return histology_crops[0]


def _run(pipeline: A.Compose, images: list[np.ndarray]) -> list[np.ndarray]:
    return [pipeline(image=im)["image"] for im in images]


def test_compose_seed_reproduces_exactly_and_other_seeds_differ(small_stylizer, bank, histology_crops):
    def make(seed: int) -> A.Compose:
        return A.Compose([AlbumentationsStylize(small_stylizer, bank, strength=(0.2, 1.0), p=0.5)], seed=seed)

    first, again, other = _run(make(3), histology_crops), _run(make(3), histology_crops), _run(make(4), histology_crops)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_p0_identity_p1_changes_and_dtype_size_channels_kept(small_stylizer, bank, image):
    assert np.array_equal(AlbumentationsStylize(small_stylizer, bank, p=0.0)(image=image)["image"], image)
    always = AlbumentationsStylize(small_stylizer, bank, p=1.0)
    gray = np.asarray(image.mean(axis=2), dtype=np.uint8)
    for inpt in (image, image.astype(np.float32) / 255, gray, gray[..., None]):
        out = always(image=inpt)["image"]
        assert out.shape == inpt.shape and out.dtype == inpt.dtype
        assert not np.array_equal(out, inpt)
        if out.dtype == np.float32:
            assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_additional_image_targets_are_checked_as_image_is(small_stylizer, bank, image, p):
    """Keys that Compose(additional_targets=) maps to "image"/"images" are stylised by ``apply``
    without a second read of their values, so the every-call check must cover them: 0–3 floats
    or NaN there are refused, fired or not, as they are under ``image``."""
    floats = image.astype(np.float32) / 255
    bad_nan = floats.copy()
    bad_nan[0, 0, 0] = np.nan
    pipeline = A.Compose([AlbumentationsStylize(small_stylizer, bank, p=p)],
                         additional_targets={"image2": "image", "stack2": "images"})
    for data, match in (({"image2": floats * 3}, "0.*1"), ({"image2": bad_nan}, "NaN"),
                        ({"stack2": (floats * 3)[None]}, "0.*1")):
        with pytest.raises(ValueError, match=match):
            pipeline(image=floats, **data)
    out = pipeline(image=floats, image2=floats[::-1].copy())
    assert out["image2"].shape == floats.shape and out["image2"].dtype == np.float32


@pytest.mark.filterwarnings("ignore:Got processor for:UserWarning")  # no geometric transform in the pipeline
def test_masks_bboxes_keypoints_untouched(small_stylizer, bank, image):
    pipeline = A.Compose(
        [AlbumentationsStylize(small_stylizer, bank, p=1.0)],
        bbox_params=A.BboxParams(format="pascal_voc", label_fields=["labels"]),
        keypoint_params=A.KeypointParams(format="xy"),
        seed=0,
    )
    mask = np.random.default_rng(0).integers(0, 4, image.shape[:2], dtype=np.uint8)
    boxes, points = [[4, 5, 40, 50]], [(10.0, 12.0)]
    out = pipeline(image=image, mask=mask, bboxes=boxes, labels=[1], keypoints=points)
    assert np.array_equal(out["mask"], mask)
    np.testing.assert_allclose(out["bboxes"], np.asarray(boxes, dtype=np.float32))
    np.testing.assert_allclose(np.asarray(out["keypoints"])[:, :2], np.asarray(points))
    assert list(out["labels"]) == [1] and not np.array_equal(out["image"], image)


def test_images_batch_in_one_call_with_one_style(small_stylizer, bank, histology_crops):
    images = np.stack(histology_crops[:3])
    transform = AlbumentationsStylize(small_stylizer, bank, p=1.0)
    out = A.Compose([transform], seed=5)(images=images)["images"]
    assert out.shape == images.shape and out.dtype == np.uint8
    # the batch uses one style and strength: equal to stylising each image with those (to one
    # level: the colour step's powers may round a last bit differently in a batch of another size)
    expected = [transform.apply(im, **transform.params) for im in images]
    assert all(np.abs(a.astype(int) - b).max() <= 1 for a, b in zip(out, expected))
    gray = images.mean(axis=3).astype(np.uint8)
    gray_out = A.Compose([transform], seed=5)(images=gray)["images"]
    assert gray_out.shape == gray.shape and gray_out.dtype == np.uint8


def test_to_dict_from_dict_and_save_load_round_trip(tmp_path, saved, histology_crops, monkeypatch):
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    checkpoint, bank_path = saved
    pipeline = A.Compose(
        [A.HorizontalFlip(p=0.5), AlbumentationsStylize(checkpoint, bank_path, strength=(0.5, 1.0), p=0.7)], seed=11
    )
    described = A.to_dict(pipeline)
    entry = described["transform"]["transforms"][1]
    assert entry["stylizer"] == checkpoint and entry["bank"] == bank_path and entry["revision"] is None
    assert entry["p"] == 0.7 and tuple(entry["strength"]) == (0.5, 1.0)
    assert len(json.dumps(described)) < 2_000  # ids and paths, never arrays
    restored = A.from_dict(described)
    restored.set_random_seed(11)
    pipeline.set_random_seed(11)
    assert all(np.array_equal(a, b) for a, b in zip(_run(pipeline, histology_crops), _run(restored, histology_crops)))
    path = tmp_path / "pipeline.json"
    A.save(pipeline, str(path))
    loaded = A.load(str(path))
    loaded.set_random_seed(2)
    pipeline.set_random_seed(2)
    assert all(np.array_equal(a, b) for a, b in zip(_run(pipeline, histology_crops), _run(loaded, histology_crops)))


def test_objects_without_a_source_refuse_to_serialise(small_stylizer, bank, saved):
    from stylizing_vit_aug.hub import load_stylizer

    unsaved = StyleBank.from_images(bank.images, load_stylizer(saved[0], device="cpu"), encode=False)
    with pytest.raises(ValueError, match="bank.save"):
        A.to_dict(AlbumentationsStylize(bank=unsaved))
    with pytest.raises(ValueError, match="save_pretrained"):
        A.to_dict(AlbumentationsStylize(small_stylizer, saved[1]))


def test_pickles_as_sources_for_workers(saved, image):
    transform = AlbumentationsStylize(*saved, p=1.0)
    pipeline = A.Compose([transform], seed=0)
    expected = pipeline(image=image)["image"]
    payload = pickle.dumps(pipeline)
    assert len(payload) < 30_000
    clone = pickle.loads(payload)
    clone.set_random_seed(0)
    assert np.array_equal(clone(image=image)["image"], expected)


def test_init_schema_rejects_bad_arguments(bank):
    for kwargs in ({"p": 1.5}, {"strength": (0.8, 0.2)}, {"strength": 2.0}, {"style_crop": 0.0}, {"strategy": "x"}):
        with pytest.raises(ValueError):
            AlbumentationsStylize(bank=bank, **kwargs)
    with pytest.raises(ValueError, match="5 channels"):
        AlbumentationsStylize(bank=bank, p=1.0)(image=np.zeros((32, 32, 5), np.uint8))
    with pytest.raises(ValueError, match="at least 8x8"):
        AlbumentationsStylize(bank=bank, p=1.0)(image=np.zeros((6, 6, 3), np.uint8))


_LOAD_SAVED = """
import sys
{imports}
pipeline = A.load(sys.argv[1])
stylize = pipeline.transforms[-1]
print(type(stylize).__name__, stylize(image=__import__("numpy").zeros((16, 16, 3), "uint8"))["image"].shape)
"""


@pytest.mark.slow  # two fresh interpreters, each importing albumentations and torch (~8 s on 2 cores)
def test_a_saved_pipeline_loads_in_a_fresh_program_in_either_import_order(tmp_path, saved, monkeypatch):
    """It failed with a bare KeyError: albumentations' registry had never seen the class, which
    the package imports lazily. The pipeline is saved with a relative bank path and loaded from
    another folder: the path is recorded absolute."""
    import subprocess
    import sys

    checkpoint, bank_path = saved
    monkeypatch.chdir(tmp_path)
    relative = str(Path(bank_path).relative_to(tmp_path))
    A.save(A.Compose([A.HorizontalFlip(), AlbumentationsStylize(checkpoint, relative, p=1.0)]), "pipeline.json")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    orders = (
        "import stylizing_vit_aug\nimport albumentations as A",
        "import albumentations as A\nimport stylizing_vit_aug",
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _LOAD_SAVED.format(imports=order), str(tmp_path / "pipeline.json")],
            cwd=elsewhere,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for order in orders
    ]
    for run in runs:
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-2000:]
        assert out.split() == ["AlbumentationsStylize", "(16,", "16,", "3)"]


def test_repr_of_in_memory_objects_never_raises_and_to_dict_still_refuses(small_stylizer, bank, tmp_path):
    """albumentations builds a transform's repr, and a Compose's, from its serialisation record:
    print(pipeline) raised "this transform's bank is not saved"."""
    for stylizer, styles in ((small_stylizer, bank), (small_stylizer, None), (None, bank)):
        pipeline = A.Compose([A.HorizontalFlip(), AlbumentationsStylize(stylizer, styles, p=1.0)])
        for text in (repr(pipeline), str(pipeline), repr(pipeline.transforms[1])):
            assert "AlbumentationsStylize(p=1.0" in text and "Stylizer(" in text
        with pytest.raises(ValueError, match="save_pretrained|bank.save"):
            A.to_dict(pipeline)
        with pytest.raises(ValueError, match="save_pretrained|bank.save"):
            A.save(pipeline, str(tmp_path / "pipeline.json"))
        assert not (tmp_path / "pipeline.json").exists()


def test_replay_compose_replays_in_memory_objects_exactly(small_stylizer, bank, histology_crops):
    """ReplayCompose records each call from the transform's serialisation arguments and rebuilds
    the transform from them: it failed on its first call with an in-memory stylizer or bank."""
    pipeline = A.ReplayCompose([AlbumentationsStylize(small_stylizer, bank, strength=(0.3, 1.0), p=0.5)])
    pipeline.set_random_seed(1)
    fired = []
    for image in histology_crops:
        out = pipeline(image=image)
        fired.append(out["replay"]["transforms"][0]["applied"])
        again = A.ReplayCompose.replay(out["replay"], image=image)["image"]
        assert np.array_equal(again, out["image"])
        assert np.array_equal(out["image"], image) != fired[-1]
    assert any(fired) and not all(fired)


def test_a_relative_bank_path_is_recorded_absolute(saved, tmp_path, monkeypatch):
    """A.save stored the path as written, so a pipeline saved in one folder did not load in another."""
    checkpoint, bank_path = saved
    monkeypatch.chdir(Path(bank_path).parent)
    entry = A.to_dict(AlbumentationsStylize(checkpoint, Path(bank_path).name))["transform"]
    assert entry["bank"] == str(Path(bank_path).absolute()) and entry["stylizer"] == checkpoint


@pytest.mark.parametrize("target", ["volume", "volumes"])
def test_a_volume_is_checked_as_images_are_on_every_call(small_stylizer, target):
    """albumentations stylises a volume's slices as images: 0-255 floats went unchecked and came back white."""
    volume = np.random.default_rng(0).uniform(25, 255, (3, 32, 32, 3)).astype(np.float32)
    given = volume if target == "volume" else np.stack([volume / 255, volume])  # the second volume's 0-255 values
    for p in (0.0, 1.0):
        with pytest.raises(ValueError, match="outside 0–1"):
            A.Compose([AlbumentationsStylize(small_stylizer, p=p)], seed=0)(**{target: given})
    fine = volume / 255 if target == "volume" else np.stack([volume / 255] * 2)
    out = A.Compose([AlbumentationsStylize(small_stylizer, p=1.0)], seed=0)(**{target: fine})[target]
    assert out.shape == fine.shape and out.dtype == np.float32 and not np.allclose(out, fine)


@pytest.mark.parametrize("dtype", [">f4", ">u2"])
def test_a_big_endian_image_comes_back_in_its_own_byte_order_fired_or_not(small_stylizer, bank, dtype):
    """Fired, a big-endian image came back native-endian, unfired in its own order: the dtype followed the draw
    (MONAI's front-end casts back; this one did not: a hostile probe). (``images=`` reaches a transform native-endian:
    albumentations' own stacking.)"""
    top = 1.0 if dtype == ">f4" else 65535
    image = (np.random.default_rng(3).uniform(0, 1, (32, 32, 3)) * top).astype(dtype)

    def run(p: float, pixels: np.ndarray) -> np.ndarray:
        return A.Compose([AlbumentationsStylize(small_stylizer, bank, p=p)], seed=5)(image=pixels)["image"]

    outs = [run(p, image) for p in (0.0, 1.0)]
    assert [out.dtype for out in outs] == [np.dtype(dtype)] * 2
    assert np.array_equal(outs[1], run(1.0, image.astype(image.dtype.newbyteorder("="))))  # the same values
