"""What every front-end shares through transforms/_base.py: one check of each parameter at
construction (same message in every host), one draw per call, one in-batch pairing, one
normalisation sequence, the old spellings that still work and warn, and a package import that
loads no host library."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

import stylizing_vit_aug as sva
import stylizing_vit_aug.transforms as front_ends
from helpers import make_small_model
from stylizing_vit_aug.model import roll_pairs
from stylizing_vit_aug.train.data import pair_styles
from stylizing_vit_aug.transforms import _base, _common
from stylizing_vit_aug.transforms.albumentations import AlbumentationsStylize
from stylizing_vit_aug.transforms.batch import BatchStylize, rolled_style_rows
from stylizing_vit_aug.transforms.kornia import RandomStylize
from stylizing_vit_aug.transforms.monai import RandStylize, RandStylized
from stylizing_vit_aug.transforms.torchvision import StylizeTransform
from stylizing_vit_aug.tta import StyleTTA

MEAN, STD = (0.5, 0.4, 0.6), (0.2, 0.25, 0.3)

# every host adapter, built from the same keyword arguments (MONAI calls p "prob")
HOSTS = {
    "StylizeTransform": lambda s, **kw: StylizeTransform(s, **kw),
    "AlbumentationsStylize": lambda s, **kw: AlbumentationsStylize(s, **kw),
    "RandStylize": lambda s, p=0.5, **kw: RandStylize(s, prob=p, **kw),
    "RandStylized": lambda s, p=0.5, **kw: RandStylized("image", s, prob=p, **kw),
    "RandomStylize": lambda s, **kw: RandomStylize(s, **kw),
    "BatchStylize": lambda s, **kw: BatchStylize(s, **kw),
}
WITH_STYLE_CROP = set(HOSTS) - {"RandomStylize"}  # kornia replays its params: no fresh crops

BAD = [
    ("p", 1.5), ("p", -0.1), ("p", True), ("p", float("nan")),
    ("strength", (0.9, 0.1)), ("strength", 2.0), ("strength", "strong"),
    ("mode", "fast"), ("strategy", "sideways"), ("style_crop", 0), ("style_crop", 1.5),
]


def _refusal(make, stylizer, **kwargs) -> str:
    with pytest.raises(ValueError) as error:
        make(stylizer, **kwargs)
    return str(error.value).replace("prob is", "p is", 1)  # the only word a host renames


@pytest.mark.parametrize("name, value", BAD, ids=[f"{n}={v!r}" for n, v in BAD])
def test_every_host_refuses_a_bad_parameter_at_construction_with_one_message(small_stylizer, name, value):
    takes = {"style_crop": WITH_STYLE_CROP, "strategy": set(HOSTS) - {"BatchStylize"}}.get(name, set(HOSTS))
    hosts = {host: make for host, make in HOSTS.items() if host in takes}  # BatchStylize allows other_domain
    messages = {host: _refusal(make, small_stylizer, **{name: value}) for host, make in hosts.items()}
    assert len(set(messages.values())) == 1, messages
    assert repr(value) in next(iter(messages.values())) or name == "strength"


def test_per_sample_hosts_refuse_other_domain_and_name_the_batch_front_end(small_stylizer, bank):
    per_sample = {host: make for host, make in HOSTS.items() if host != "BatchStylize"}
    messages = {_refusal(make, small_stylizer, strategy="other-domain") for make in per_sample.values()}
    assert len(messages) == 1
    assert "strategy='other_domain') with domains=" in messages.pop()  # says where such styles are drawn
    assert BatchStylize(small_stylizer, bank, strategy="other-domain").strategy == "other_domain"


def test_hosts_with_mean_std_refuse_integer_input_alike(small_stylizer, bank):
    images = torch.zeros(2, 3, 16, 16, dtype=torch.uint8)
    users = {
        "StylizeTransform": lambda: StylizeTransform(small_stylizer, bank, p=1.0, mean=MEAN, std=STD)(images[0]),
        "BatchStylize": lambda: BatchStylize(small_stylizer, bank, p=1.0, mean=MEAN, std=STD)(images),
        "StyleTTA": lambda: StyleTTA(torch.nn.Identity(), small_stylizer, bank, n_styles=1, mean=MEAN, std=STD)(images),
    }
    for name, use in users.items():
        with pytest.raises(ValueError, match=f"^{name}: mean/std were given but the images are not float"):
            use()


@pytest.mark.parametrize("pair", [torch.tensor([0.2, 0.8]), np.array([0.2, 0.8]), np.array([0.2, 0.8], np.float32)])
def test_a_strength_range_may_be_a_tensor_or_an_array_of_two(small_stylizer, bank, pair):
    """The range as a tensor or array was refused in words that allowed it ("... or a (low, high) pair, got 2
    numbers"), by every front-end."""
    for front_end in (StylizeTransform, AlbumentationsStylize):
        low, high = front_end(small_stylizer, bank, strength=pair).strength
        assert (low, high) == pytest.approx((0.2, 0.8)) and low < high
    with pytest.raises(ValueError, match="low <= high"):
        StylizeTransform(small_stylizer, bank, strength=pair[::-1].copy() if isinstance(pair, np.ndarray)
                         else pair.flip(0))


def test_strength_and_mode_are_checked_once_at_construction_not_per_call(small_stylizer, bank, monkeypatch):
    calls = {"strength": 0, "mode": 0}
    strength_values, check_mode = _common.strength_values, _base.check_mode

    def counted(name, check):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return check(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(_common, "strength_values", counted("strength", strength_values))
    monkeypatch.setattr(_base, "check_mode", counted("mode", check_mode))
    image = np.zeros((16, 16, 3), np.uint8)
    transform = AlbumentationsStylize(small_stylizer, bank, strength=(0.2, 0.8), mode="detail", p=1.0)
    assert calls == {"strength": 1, "mode": 1}
    for _ in range(3):
        transform(image=image)
    assert calls == {"strength": 1, "mode": 1}  # get_params draws from the checked range


def test_checked_parameters_are_read_only(small_stylizer):
    transform = StylizeTransform(small_stylizer, strength=(0.2, 0.8), mode="detail")
    assert transform.strength == (0.2, 0.8) and transform.mode == "detail" and transform.settings.p == 0.5
    with pytest.raises(AttributeError):
        transform.strength = (0.0, 5.0)  # would bypass the one check


# -- one pairing ---------------------------------------------------------------------------------
def test_roll_pairs_edge_cases():
    assert [t.tolist() for t in roll_pairs(0)] == [[], []]
    assert [t.tolist() for t in roll_pairs(1)] == [[0], [False]]  # a batch of one: itself, not found
    assert [t.tolist() for t in roll_pairs(4)] == [[1, 2, 3, 0], [True] * 4]
    assert [t.tolist() for t in roll_pairs(3, ["x"] * 3)] == [[1, 2, 0], [False] * 3]  # one domain: the roll
    index, found = roll_pairs(6, ["a", "a", "b", "a", "c", "c"])
    assert index.tolist() == [2, 2, 3, 4, 0, 0] and bool(found.all())  # nearest next row of another domain
    assert torch.equal(roll_pairs(6, torch.tensor([0, 0, 1, 0, 2, 2]))[0], index)  # labels or codes alike


@pytest.mark.parametrize("batch, domains", [(1, None), (4, None), (4, ["x"] * 4), (5, list("aabab"))])
def test_every_in_batch_pairing_is_roll_pairs(small_stylizer, batch, domains):
    index, found = roll_pairs(batch, domains)
    torch.manual_seed(0)
    images = torch.rand(batch, 3, 32, 32)
    model = make_small_model()
    with torch.no_grad():
        assert torch.equal(model(images), model(images, images[roll_pairs(batch)[0]]))  # the reference
        assert torch.equal(model.forward_train(images).style_index.cpu(), roll_pairs(batch)[0])
    labels = torch.tensor([ord(d) for d in domains]) if domains else torch.arange(batch)
    assert torch.equal(pair_styles(labels, "roll"), roll_pairs(batch)[0])
    # the front-ends take the same rows and leave a row with none unchanged (never its own style)
    out, info = BatchStylize(small_stylizer, p=1.0)(images, domains=domains, return_info=True)
    assert torch.equal(info.applied, found) and torch.equal(info.no_style, ~found)
    assert torch.equal(info.style_index, torch.where(found, index, -1))
    assert torch.equal(out[~found], images[~found])
    if domains is None:  # kornia draws its parameters before it could see labels
        aug = RandomStylize(small_stylizer, p=1.0)
        out = aug(images)
        assert torch.equal(aug._params["style_index"], torch.where(found, index, -1))
        assert torch.equal(out[~found], images[~found])


# -- old spellings ------------------------------------------------------------------------------
def test_style_tta_input_mean_std_still_work_and_warn(small_stylizer, bank):
    images = (torch.rand(2, 3, 32, 32) - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 2))

    def predict(**stats) -> torch.Tensor:
        return StyleTTA(net, small_stylizer, bank, n_styles=2, styles=[0, 1], **stats)(images)

    with pytest.warns(DeprecationWarning) as warned:
        old = predict(input_mean=MEAN, input_std=STD)
    names = sorted(str(w.message).split(" is ")[0] for w in warned)
    assert names == ["StyleTTA(input_mean=...)", "StyleTTA(input_std=...)"]
    assert all(w.filename == __file__ for w in warned)  # they point at the caller's line
    assert torch.equal(old, predict(mean=MEAN, std=STD))
    with pytest.raises(TypeError, match="pass mean= only"):
        predict(mean=MEAN, input_mean=MEAN, std=STD)


def test_rand_stylized_stylize_and_rolled_style_rows_still_work_and_warn(small_stylizer):
    dictionary = RandStylized("image", small_stylizer)
    with pytest.warns(DeprecationWarning, match="array_transform"):
        assert dictionary.stylize is dictionary.array_transform
    with pytest.warns(DeprecationWarning, match="roll_pairs"):
        rows = rolled_style_rows(3, ["a", "a", "b"])
    index, found = roll_pairs(3, ["a", "a", "b"])
    assert torch.equal(rows, torch.where(found, index, -1))
    with pytest.warns(DeprecationWarning):
        assert rolled_style_rows(1).tolist() == [-1]


# -- names and imports --------------------------------------------------------------------------
HOST_LIBRARIES = {"monai", "kornia", "albumentations"}
PACKAGE = Path(sva.__file__).parent


def test_only_a_host_adapter_imports_its_host_library():
    """Read with ``ast``, every import anywhere in the package: the base, the other front-ends and
    the rest never import a host library, so ``pip install stylizing-vit-aug`` works without them."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            )
            found += [(path.relative_to(PACKAGE).as_posix(), n.split(".")[0]) for n in names]
    hosts = {(module, library) for module, library in found if library in HOST_LIBRARIES}
    assert hosts == {("transforms/monai.py", "monai"), ("transforms/kornia.py", "kornia"),
                     ("transforms/albumentations.py", "albumentations")}


def test_front_end_names_and_importing_the_package_loads_no_host_library():
    for name in ("RandStylize", "RandStylized", "AlbumentationsStylize", "StylizeTransform", "BatchStylize"):
        assert name in set(sva.__all__) & set(dir(sva)) & set(front_ends.__all__)
        assert getattr(sva, name) is getattr(front_ends, name)
    assert "kornia" in set(sva.__all__) and sva.kornia.RandomStylize is front_ends.RandomStylize is RandomStylize
    code = (  # a fresh process (this one has imported them all); the package imports lazily, no torch
        "import sys, stylizing_vit_aug, stylizing_vit_aug.transforms\n"
        f"loaded = {sorted(HOST_LIBRARIES)!r} & sys.modules.keys()\n"
        "assert not loaded, f'importing stylizing_vit_aug imported {loaded}'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _stylizer(source: str | None) -> sva.Stylizer:
    """What a transform's StyleSource loads for ``source``: the per-process cache, given the files' state now."""
    return _common.get_stylizer(source, state=_common.file_state(source))


def _bank(path: str, stylizer: sva.Stylizer) -> sva.StyleBank:
    """What a transform's StyleSource loads for a bank file: as :func:`_stylizer`."""
    return _common.get_bank(path, stylizer, state=_common.file_state(path))


def test_a_checkpoint_or_bank_saved_again_is_loaded_again(saved, small_stylizer, histology_crops, monkeypatch):
    """Per-process caches (a DataLoader worker's, worker_context's fork server's) follow the files:
    a script that saves this run's checkpoint or bank over last run's never styles with the old."""
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    monkeypatch.setattr(_common, "_BANKS", {})
    checkpoint, bank_path = saved
    stylizer = _stylizer(checkpoint)
    bank = _bank(bank_path, stylizer)
    assert _stylizer(checkpoint) is stylizer and _bank(bank_path, stylizer) is bank

    with torch.no_grad():
        small_stylizer.model.post_process_conv.weight.mul_(0.5)
    small_stylizer.save_pretrained(checkpoint)
    sva.StyleBank.from_images(histology_crops[:2], _stylizer(checkpoint)).save(bank_path)
    reloaded = _stylizer(checkpoint)
    assert reloaded is not stylizer
    assert torch.equal(reloaded.model.post_process_conv.weight, small_stylizer.model.post_process_conv.weight)
    assert len(_bank(bank_path, reloaded)) == 2
    assert len(_common._STYLIZERS) == 1 and len(_common._BANKS) == 1  # replaced, not piled up (the old bank held
    # the old stylizer: one per save kept every epoch's model alive)


def test_a_new_checkpoint_folder_each_epoch_keeps_only_the_latest_few_loaded(small_stylizer, tmp_path, monkeypatch):
    """A run that saves each epoch's checkpoint into its own folder and builds a transform from each kept
    every model it ever loaded; the least recently used go past CACHED_SOURCES, and one in use stays."""
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    folders = [tmp_path / f"epoch-{epoch}" for epoch in range(_common.CACHED_SOURCES + 3)]
    for folder in folders:
        small_stylizer.save_pretrained(folder)
    first = _stylizer(str(folders[0]))
    for folder in folders[1:]:
        assert _stylizer(str(folder)) is not first
        assert _stylizer(str(folders[0])) is first  # used again: kept, the others go in turn
    assert len(_common._STYLIZERS) == _common.CACHED_SOURCES
    assert (str(folders[0]), None, None) in _common._STYLIZERS
    assert (str(folders[1]), None, None) not in _common._STYLIZERS


def test_default_and_none_are_one_cached_stylizer(monkeypatch):
    monkeypatch.setattr(_common, "_STYLIZERS", {})
    assert _stylizer("default") is _stylizer(None)


# -- every call checks its input, fired or not --------------------------------------------------------
def _per_sample_calls(stylizer, bank, p: float) -> dict:
    """Each per-sample front-end's call on a float CHW image (its own kind of it)."""
    return {
        "StylizeTransform": lambda image: StylizeTransform(stylizer, bank, p=p)(torch.from_numpy(image)),
        "AlbumentationsStylize": lambda image: AlbumentationsStylize(stylizer, bank, p=p)(
            image=np.ascontiguousarray(np.moveaxis(image, 0, -1)))["image"],
        "AlbumentationsStylize images": lambda image: AlbumentationsStylize(stylizer, bank, p=p)(
            images=np.moveaxis(image, 0, -1)[None])["images"],
        "RandStylize": lambda image: RandStylize(stylizer, bank, prob=p)(image),
        "RandomStylize": lambda image: RandomStylize(stylizer, bank, p=p)(torch.from_numpy(image)[None]),
    }


BROKEN = {
    "normalised": (lambda image: (image - 0.5) / 0.2, "after Normalize|put RandStylize first"),
    "NaN": (lambda image: np.where(np.arange(image.size).reshape(image.shape) == 5, np.nan, image), "NaN or Inf"),
    "0-255": (lambda image: image * 255, "0–255|value_range"),
    "5 channels": (lambda image: np.concatenate([image, image[:2]]), "5 channels"),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_every_per_sample_front_end_checks_its_input_when_it_does_not_fire(small_stylizer, bank, broken):
    """A transform after Normalize, or NaN pixels, must fail at the first sample, not hours into
    a run when a rare draw fires: p=0 refuses what p=1 refuses, with the same message."""
    make, match = BROKEN[broken]
    image = make(np.random.default_rng(0).random((3, 32, 40)).astype(np.float32)).astype(np.float32)
    never, always = _per_sample_calls(small_stylizer, bank, 0.0), _per_sample_calls(small_stylizer, bank, 1.0)
    for name in never:
        with pytest.raises(ValueError, match=match) as error:
            never[name](image)
        with pytest.raises(ValueError) as fired:
            always[name](image)
        assert str(error.value) == str(fired.value), name
    fine = np.random.default_rng(1).random((3, 32, 40)).astype(np.float32)
    for name, call in never.items():
        out = call(fine)  # not fired: the input as it came
        assert np.array_equal(np.asarray(out).reshape(-1), np.moveaxis(fine, 0, -1 if "Album" in name else 0)
                              .reshape(-1)), name


def test_kornia_reads_a_batch_back_once_whether_or_not_a_row_fires(small_stylizer, bank):
    from helpers import HostReads

    batch = torch.rand(4, 3, 32, 32)
    for p in (0.0, 1.0):
        aug = RandomStylize(small_stylizer, bank, p=p)
        with HostReads(batch) as reads:
            aug(batch)
        assert reads.found == ["tolist"], p


def test_reprs_name_only_the_parameters_a_front_end_takes(small_stylizer, bank):
    kornia = repr(RandomStylize(small_stylizer, bank, p=0.3))
    assert "style_crop" not in kornia and "p=0.3" in kornia and "styles=bank (uniform)" in kornia
    assert "style_crop=0.5" in repr(StylizeTransform(small_stylizer, bank, style_crop=0.5))


# -- sources checked at construction ------------------------------------------------------------
PER_SAMPLE = {host: make for host, make in HOSTS.items() if host != "BatchStylize"}  # it takes objects only


@pytest.mark.parametrize("host", list(PER_SAMPLE))
def test_a_missing_checkpoint_or_bank_fails_at_construction_not_at_the_first_draw(host, saved, tmp_path, monkeypatch):
    """With p=0.01 a typo surfaced only when a draw first fired, perhaps hours into a run."""
    checkpoint, bank_path = saved
    make = PER_SAMPLE[host]
    with pytest.raises(FileNotFoundError, match=f"no such file or directory: {tmp_path / 'no_ckpt'}"):
        make(str(tmp_path / "no_ckpt"), p=0.01)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=f"bank file {tmp_path / 'typo.safetensors'} does not exist"):
        make(checkpoint, bank="typo.safetensors", p=0.01)  # named as resolved against the working directory
    with pytest.raises(IsADirectoryError, match="is a folder; a transform's bank= reads one bank file"):
        make(checkpoint, bank=str(tmp_path), p=0.01)  # a folder of styles: refused as StyleBank.load refuses it
    (tmp_path / "gone.safetensors").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="is a broken symbolic link"):
        make(checkpoint, bank="gone.safetensors", p=0.01)
    with pytest.raises(sva.UnknownCheckpoint, match="Did you mean 'tiny-camelyon17wilds'"):
        make("tiny-camelyon17wlds", p=0.01)
    with pytest.raises(sva.NotACheckpoint, match="is a style bank"):
        make(bank_path, p=0.01)  # a bank file where the checkpoint goes: a likely slip, named at once
    made = make("ckpt", bank=Path(bank_path).name, p=0.01)  # relative paths that exist: kept absolute
    source = made._source if host != "RandStylized" else made.array_transform._source
    assert (source.source, source.bank_path) == (checkpoint, bank_path)


def _cache_entry(cache: Path, repo_id: str, edit: Callable[[Path], Path] | None = None) -> None:
    """A Hub cache entry as huggingface_hub lays it out (refs/main -> snapshots/<sha>/file): a
    checkpoint as push_to_hub uploads it (construction reads its config.json and header, for the
    statistics, but loads no weights), with ``edit`` applied to its folder."""
    snapshot = cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / ("a" * 40)
    sva.save_pretrained(make_small_model(), snapshot, mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    if edit is not None:
        edit(snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("a" * 40)


def test_offline_an_uncached_hub_checkpoint_fails_at_construction(offline):
    _cache_entry(offline["empty"], "someone/cached")
    for make in PER_SAMPLE.values():
        for source in ("tiny-camelyon17wilds", "someone/not-cached"):
            with pytest.raises(sva.CheckpointNotCached, match="not in the Hugging Face cache.*HF_HUB_OFFLINE"):
                make(source, p=0.01)
        make("someone/cached", p=0.01)  # in the cache: fine, and nothing loaded yet
    assert offline["calls"] and all(call["local_files_only"] for call in offline["calls"])


def test_online_a_hub_checkpoint_s_weights_are_not_downloaded_at_construction(monkeypatch):
    """Only the repo's small config.json is looked up when the transform is made (its checks); the
    weights wait for the first draw. (A Hub that does not answer leaves the check to that draw.)"""
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    from stylizing_vit_aug import hub

    asked: list[str] = []

    def download(*args, filename=None, **kwargs):
        asked.append(filename or args[1])
        raise LocalEntryNotFoundError("no network (simulated): what huggingface_hub raises when it cannot connect")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    # the host resolves (no lookup is made): a host that does not is cache-only, and refused when not cached
    monkeypatch.setattr(hub, "unresolvable_hub_host", lambda: None)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    assert StylizeTransform("someone/repo")._source.source == "someone/repo"
    assert asked and set(asked) <= {"config.json"}, asked


# the refusal of a checkpoint without statistics, with the front-end's advice for source {}
_NO_STATS = r"does not record its normalisation statistics.*load_stylizer\('{}'"


def _without_stats(snapshot: Path) -> Path:
    """A checkpoint folder whose config.json records no statistics (as pushed by hand)."""
    config = json.loads((snapshot / "config.json").read_text())
    (snapshot / "config.json").write_text(json.dumps({**config, "mean": None, "std": None}))
    return snapshot


def _spy_downloads(monkeypatch, answer: Callable[..., str] | None = None) -> list[tuple[str, str]]:
    """Every hf_hub_download as (repo id, file name), answered by ``answer`` (None: as before)."""
    import huggingface_hub

    asked: list[tuple[str, str]] = []
    answer = answer or huggingface_hub.hf_hub_download

    def download(repo_id, filename, **kwargs):
        asked.append((repo_id, filename))
        return answer(repo_id, filename, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    return asked


def test_online_a_hub_checkpoint_without_statistics_is_refused_at_construction(tmp_path, monkeypatch):
    """Online it was accepted and refused at the first draw, in a DataLoader worker, perhaps hours in;
    the check downloads the repo's config.json once (an official one's statistics are the registry's:
    nothing), never the weights. A command given --mean/--std (no advice) takes them."""
    import huggingface_hub.constants

    from stylizing_vit_aug import hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr(hub, "unresolvable_hub_host", lambda: None)  # the Hub answers (the fake)
    folder = _without_stats(sva.save_pretrained(make_small_model(), tmp_path / "repo", mean=MEAN, std=STD))
    asked = _spy_downloads(monkeypatch, lambda repo_id, filename, **kwargs: str(folder / filename))
    for make in PER_SAMPLE.values():
        for source in ("someone/unrecorded", "tiny-ddi"):
            with pytest.raises(sva.MissingStatistics, match=_NO_STATS.format(source)) as refused:
                make(source, p=0.01)
            assert "save_pretrained" in str(refused.value)  # the front-end's advice, not the loader's
    assert asked == [("someone/unrecorded", "config.json")] * len(PER_SAMPLE)
    assert [_common.checked_source(s, stats_advice=None) for s in ("someone/unrecorded", "tiny-ddi")] == [
        "someone/unrecorded",
        "tiny-ddi",
    ]


def test_offline_a_hub_checkpoint_s_config_is_read_once_and_one_without_statistics_refused(offline, monkeypatch):
    """From the Hugging Face cache (HF_HUB_OFFLINE=1): one lookup of config.json per construction
    (there were two), a repo recording no statistics and an official one the registry has none for
    refused as online (the official one was accepted offline)."""
    from stylizing_vit_aug import hub

    _cache_entry(offline["empty"], "someone/cached")
    _cache_entry(offline["empty"], "someone/unrecorded", edit=_without_stats)
    _cache_entry(offline["empty"], hub.resolve_official("tiny-ddi").repo_id)
    asked = _spy_downloads(monkeypatch)
    StylizeTransform("someone/cached", p=0.01)
    assert [name for _, name in asked].count("config.json") == 1, asked
    for source in ("someone/unrecorded", "tiny-ddi"):
        with pytest.raises(sva.MissingStatistics, match=_NO_STATS.format(source)):
            StylizeTransform(source, p=0.01)


def test_offline_an_uncached_official_checkpoint_without_statistics_is_refused_for_its_statistics(offline):
    """``tiny-ddi``/``small-cholec80`` record no statistics (the registry says so, no file needed): every front-end
    says that first, offline too, as ``load_stylizer`` does; it said "not cached", and a user who downloaded the
    weights learnt of the statistics only then. Given statistics (a command's --mean/--std), the cache is asked."""
    for source in ("tiny-ddi", "small-cholec80"):
        for host, make in HOSTS.items():
            with pytest.raises(sva.MissingStatistics, match=_NO_STATS.format(source)):
                make(source, p=0.01)
                pytest.fail(host)
        with pytest.raises(sva.CheckpointNotCached):
            _common.checked_source(source, stats_advice=None)
    assert len(offline["calls"]) == 2  # the cache asked only where the statistics were given


# -- keyword-only parameters --------------------------------------------------------------------
@pytest.mark.parametrize("host", [StylizeTransform, AlbumentationsStylize, RandomStylize, BatchStylize])
def test_parameters_after_stylizer_and_bank_are_keyword_only(host, small_stylizer, bank):
    """StylizeTransform(st, b, 0.5) set p and AlbumentationsStylize(st, b, 0.5) set strength."""
    import inspect

    kinds = [p.kind for p in inspect.signature(host).parameters.values()]
    assert kinds[:2] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 2
    assert set(kinds[2:]) == {inspect.Parameter.KEYWORD_ONLY}
    with pytest.raises(TypeError, match="positional argument"):
        host(small_stylizer, bank, 0.5)


# -- gradients ------------------------------------------------------------------------------------
def test_stylised_tensors_carry_no_gradient_and_say_so(small_stylizer, bank):
    """A float input that requires grad got a tensor without one (StylizeTransform) or a zero
    gradient for the stylised rows (BatchStylize, kornia) silently."""
    images = torch.rand(3, 3, 32, 32, requires_grad=True)
    calls = {
        "StylizeTransform": lambda x: StylizeTransform(small_stylizer, bank, p=1.0)(x),
        "BatchStylize": lambda x: BatchStylize(small_stylizer, bank, p=1.0)(x),
        "RandomStylize": lambda x: RandomStylize(small_stylizer, bank, p=1.0)(x),
    }
    for name, call in calls.items():
        with pytest.warns(UserWarning, match=f"^{name}: the stylizer runs without autograd"):
            out = call(images)
        assert not out.requires_grad or not torch.autograd.grad(out.sum(), images)[0].any(), name
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with torch.no_grad():
                call(images)  # no gradient asked for: nothing to say
            call(images.detach())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = BatchStylize(small_stylizer, bank, p=0.0)(images)  # nothing stylised: the gradient passes
    assert torch.equal(torch.autograd.grad(out.sum(), images)[0], torch.ones_like(images))


# -- one read of a float input's range per call ----------------------------------------------------
def _one_read_calls(stylizer, bank) -> dict:
    """Each front-end fired once on float images in 0–1 (normalised where it takes mean/std)."""
    x = torch.rand(3, 24, 28, generator=torch.Generator().manual_seed(0))
    normalised = (x - torch.tensor(MEAN).view(3, 1, 1)) / torch.tensor(STD).view(3, 1, 1)
    stats = {"mean": MEAN, "std": STD}
    return {
        "StylizeTransform": lambda: StylizeTransform(stylizer, bank, p=1.0)(x),
        "StylizeTransform mean/std": lambda: StylizeTransform(stylizer, bank, p=1.0, **stats)(normalised),
        "AlbumentationsStylize": lambda: AlbumentationsStylize(stylizer, bank, p=1.0)(image=x.permute(1, 2, 0).numpy()),
        "AlbumentationsStylize images": lambda: AlbumentationsStylize(stylizer, bank, p=1.0)(
            images=x.permute(1, 2, 0).numpy()[None].repeat(2, 0)),
        "RandStylize": lambda: RandStylize(stylizer, bank, prob=1.0)(x),
        "RandStylize numpy": lambda: RandStylize(stylizer, bank, prob=1.0)(x.numpy()),
        "RandStylize value_range": lambda: RandStylize(stylizer, bank, prob=1.0, value_range=(0, 255))(x * 255),
        "RandomStylize": lambda: RandomStylize(stylizer, bank, p=1.0)(x[None].repeat(2, 1, 1, 1)),
        "BatchStylize": lambda: BatchStylize(stylizer, bank, p=1.0)(x[None].repeat(2, 1, 1, 1)),
        "BatchStylize mean/std": lambda: BatchStylize(stylizer, bank, p=1.0, **stats)(
            normalised[None].repeat(2, 1, 1, 1)),
    }


def test_a_float_input_is_read_and_unnormalised_once_per_call(small_stylizer, bank, monkeypatch):
    """StylizeTransform read a float input's extremes three times per call (its check, the shared
    undo, the Stylizer) and undid mean/std twice; albumentations and MONAI read it twice."""
    from stylizing_vit_aug.images import Normalization, kinds
    from stylizing_vit_aug.transforms import monai

    reads, undos = [], []
    undo = Normalization.undo

    def spy(read):  # type: ignore[no-untyped-def]
        return lambda values, what: reads.append(what) or read(values, what)

    extremes = kinds.finite_extremes
    monkeypatch.setattr(kinds, "finite_extremes", spy(extremes))  # the range check's one reading
    monkeypatch.setattr(monai, "finite_extremes", spy(extremes))
    monkeypatch.setattr(
        Normalization, "undo", lambda self, images, what: undos.append(what) or undo(self, images, what)
    )
    for name, call in _one_read_calls(small_stylizer, bank).items():
        reads.clear(), undos.clear()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
        assert len(reads) == 1, (name, reads)
        front_end_undos = [what for what in undos if what.endswith(" mean/std")]  # not the engine's own
        assert len(front_end_undos) == ("mean/std" in name), (name, undos)


@pytest.mark.parametrize("strength", [0.0, 0.6])
@pytest.mark.parametrize("kind", ["float32", "float64", "float16", "numpy", "uint8", "list"])
def test_the_checked_call_gives_the_engines_pixels(small_stylizer, bank, kind, strength):
    """The front-ends' call without the engine's second read (``range_checked=True``) gives exactly
    what the Stylizer's own call gives, strength 0 (the input's own values) included."""
    x = torch.rand(3, 24, 28, generator=torch.Generator().manual_seed(1))
    images = {
        "float32": x, "float64": x.double(), "float16": x.half(), "numpy": x.permute(1, 2, 0).numpy(),
        "uint8": (x * 255).to(torch.uint8), "list": [x, x.flip(-1)],
    }[kind]
    styles = bank.stream(torch.tensor([1]))
    ours = small_stylizer(images, styles, strength, range_checked=True)
    engine = small_stylizer(images, styles, strength)
    for a, b in zip(ours if kind == "list" else [ours], engine if kind == "list" else [engine]):
        assert type(a) is type(b) and a.dtype == b.dtype
        a, b = (a.float(), b.float()) if kind == "float16" else (a, b)
        assert np.array_equal(np.asarray(a), np.asarray(b))
