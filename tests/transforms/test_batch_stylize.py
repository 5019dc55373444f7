"""BatchStylize on collated batches: selection, styles, domains, dtypes, determinism, loaders."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, HostReads, count_stylized_rows, make_small_model
from stylizing_vit_aug.bank import StyleBank
from stylizing_vit_aug.model import roll_pairs
from stylizing_vit_aug.transforms.batch import BatchStylize, StylizeCollate, StylizedLoader

MEAN = torch.tensor([0.5, 0.4, 0.6]).view(1, 3, 1, 1)
STD = torch.tensor([0.2, 0.25, 0.3]).view(1, 3, 1, 1)


@pytest.fixture
def batch(histology_crops) -> torch.Tensor:
    """8 uint8 images (the five crops plus three flipped ones), 96x128."""
    images = torch.from_numpy(np.stack(histology_crops)).permute(0, 3, 1, 2)
    return torch.cat([images, images[:3].flip(-1)]).contiguous()


def _changed(out: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return (out != images).flatten(1).any(dim=1)


def test_p0_is_identity_and_p1_changes_every_row_in_every_dtype(small_stylizer, bank, batch):
    for images in (batch, batch.float() / 255, batch.half() / 255):
        kept = BatchStylize(small_stylizer, bank, p=0.0)(images)
        assert torch.equal(kept, images) and kept.data_ptr() != images.data_ptr()  # a new tensor, as when rows fire
        out = BatchStylize(small_stylizer, bank, p=1.0)(images)
        assert out.dtype == images.dtype and out.shape == images.shape and out.device == images.device
        assert bool(_changed(out, images).all())
        if out.is_floating_point():
            assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_only_selected_rows_run_and_change(small_stylizer, bank, batch, monkeypatch):
    seen = count_stylized_rows(small_stylizer, monkeypatch)
    module = BatchStylize(small_stylizer, bank, p=0.5, generator=torch.Generator().manual_seed(3))
    out, info = module(batch, return_info=True)
    applied = info.applied
    assert 0 < int(applied.sum()) < len(batch) and seen == [int(applied.sum())]
    assert torch.equal(_changed(out, batch), applied)
    assert torch.equal(out[~applied], batch[~applied])
    assert bool((info.style_index[applied] >= 0).all()) and bool((info.style_index[~applied] == -1).all())
    assert info.from_bank and bool((info.strength[~applied] == 0).all())


def test_in_batch_styles_are_the_rolled_originals(small_stylizer, batch):
    out, info = BatchStylize(small_stylizer, p=1.0)(batch, return_info=True)
    rows = torch.arange(len(batch))
    assert torch.equal(info.style_index, (rows + 1) % len(batch)) and not info.from_bank
    values = batch.float() / 255
    # row 0 is styled by the ORIGINAL row 1, not by row 1's stylised result
    expected = small_stylizer.stylize_batch(values[:1], values[1:2])
    difference = out[0].int() - (expected[0] * 255).round().int()
    assert int(difference.abs().max()) <= 1  # batched vs single-row kernels may round differently


def test_domains_never_pair_a_sample_with_its_own_domain(small_stylizer, bank, batch):
    domains = ["a", "a", "a", "b", "b", "c", "c", "a"]
    _, info = BatchStylize(small_stylizer, p=1.0)(batch, domains=domains, return_info=True)
    assert all(domains[int(j)] != domains[i] for i, j in enumerate(info.style_index))
    assert not bool(roll_pairs(3, ["x", "x", "x"])[1].any())  # no row of another domain
    out, info = BatchStylize(small_stylizer, p=1.0)(batch[:3], domains=["x"] * 3, return_info=True)
    assert torch.equal(out, batch[:3]) and not bool(info.applied.any())  # no other domain: left alone
    generator = torch.Generator().manual_seed(0)
    bank_domains = list("abcabcab")
    for _ in range(5):
        _, info = BatchStylize(small_stylizer, bank, p=1.0, generator=generator)(
            batch, domains=bank_domains, return_info=True
        )
        assert all(bank.domains[int(j)] != bank_domains[i] for i, j in enumerate(info.style_index))


def test_same_on_batch_uses_one_decision_style_and_strength(small_stylizer, bank, batch):
    module = BatchStylize(small_stylizer, bank, p=0.5, strength=(0.2, 0.9), same_on_batch=True,
                          generator=torch.Generator().manual_seed(0))
    decisions = set()
    for _ in range(8):
        _, info = module(batch, return_info=True)
        decisions.add(bool(info.applied.all()) or not bool(info.applied.any()))
        if info.applied.all():
            assert len(info.style_index.unique()) == 1 and len(info.strength.unique()) == 1
    assert decisions == {True}


def test_generator_seed_reproduces_and_other_seed_differs(small_stylizer, bank, batch):
    def run(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        module = BatchStylize(small_stylizer, bank, p=0.5, strength=(0.3, 1.0), style_crop=0.6,
                              generator=torch.Generator().manual_seed(seed))
        out, info = module(batch, return_info=True)
        return out, info.applied

    (first, applied), (again, _), (other, _) = run(1), run(1), run(2)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert 0 < int(applied.sum()) < len(batch)


def test_a_generator_in_the_main_process_is_used_as_given(small_stylizer, bank, batch):
    module = BatchStylize(small_stylizer, bank, p=0.5, generator=torch.Generator().manual_seed(3))
    _, info = module(batch, return_info=True)
    assert torch.equal(info.applied, torch.rand(len(batch), generator=torch.Generator().manual_seed(3)) < 0.5)


class _Repeating(torch.utils.data.Dataset):
    """Every batch of four holds the same four images: any difference between batches is the draw's."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index % 4], index


def test_a_generator_draws_anew_in_each_dataloader_worker_and_epoch(small_stylizer, bank, batch):
    """A worker gets a copy of the generator: re-seeded from its seed and the worker's, the two
    workers and the two epochs draw differently, and the same seeds repeat the run exactly."""
    module = BatchStylize(small_stylizer, bank, p=1.0, strength=(0.2, 1.0), generator=torch.Generator().manual_seed(5))
    loader = DataLoader(_Repeating(batch[:4]), batch_size=4, num_workers=2, multiprocessing_context="fork",
                        collate_fn=StylizeCollate(None, module))

    def run(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)  # the DataLoader draws its workers' seeds from it
        return [images for _ in range(2) for images, _ in loader]

    first = run(0)
    assert len(first) == 8 and all(bool(_changed(images, batch[:4]).all()) for images in first)
    assert len({images.numpy().tobytes() for images in first}) == 8  # 2 workers x 2 batches x 2 epochs
    assert all(torch.equal(a, b) for a, b in zip(first, run(0)))
    assert not any(torch.equal(a, b) for a, b in zip(first, run(1)))
    assert module.generator.initial_seed() == 5 and module._seeded_for is None  # the main process's untouched


def test_a_generator_pickles_as_its_state_and_draws_on_where_it_left_off(small_stylizer, bank, batch):
    """How it reaches a spawned or fork-server worker (torch's own Generator pickling fails there)."""
    import pickle
    from multiprocessing.reduction import ForkingPickler

    module = BatchStylize(small_stylizer, bank, p=0.5, strength=(0.2, 1.0), generator=torch.Generator().manual_seed(5))
    module(batch)  # move the generator on from its seed
    state = module.generator.get_state()
    _, expected = module(batch, return_info=True)  # the draws the original makes next
    module.generator.set_state(state)
    for copy in (pickle.loads(pickle.dumps(module)), pickle.loads(ForkingPickler.dumps(module))):
        assert copy.generator.initial_seed() == 5 and torch.equal(copy.generator.get_state(), state)
        _, info = copy(batch, return_info=True)
        assert torch.equal(info.applied, expected.applied) and torch.equal(info.strength, expected.strength)


_SPAWNED_COLLATE = """
import torch
from torch.utils.data import DataLoader
import stylizing_vit_aug as sva
from stylizing_vit_aug.transforms.batch import StylizeCollate

if __name__ == "__main__":
    model = sva.StylizingViT(img_size=32, patch_size=8, embed_dim=48, depth=1, num_heads=3)
    stylizer = sva.Stylizer(model, (0.74, 0.59, 0.72), (0.18, 0.21, 0.17), device="cpu")
    images = [torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8) for _ in range(4)]
    bank = sva.StyleBank.from_images(images[:2], stylizer)
    module = sva.BatchStylize(stylizer, bank, p=1.0, generator=torch.Generator().manual_seed(5))
    loader = DataLoader(images, batch_size=2, num_workers=1, multiprocessing_context="spawn",
                        collate_fn=StylizeCollate(None, module))
    print("batches", len([b for b in loader]))
"""


@pytest.mark.slow
def test_a_generator_reaches_a_spawned_collate_worker(tmp_path):
    """It crashed the worker: "unable to resize file <filename not specified>"."""
    import subprocess
    import sys

    script = tmp_path / "spawned.py"
    script.write_text(_SPAWNED_COLLATE)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and "batches 2" in done.stdout, done.stderr[-2000:]


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
@pytest.mark.parametrize("styles", ["bank", "in batch"])
def test_an_empty_batch_comes_back_empty(small_stylizer, bank, dtype, styles):
    """As from kornia's RandomStylize and stylize_batch: the last batch of a filtered epoch may be empty."""
    images = torch.zeros(0, 3, 32, 32, dtype=dtype)
    module = BatchStylize(small_stylizer, bank if styles == "bank" else None, p=1.0)
    out, info = module(images, domains=[], return_info=True)
    assert out.shape == images.shape and out.dtype == dtype
    assert all(len(t) == 0 for t in (info.applied, info.style_index, info.strength, info.no_style))
    assert info.from_bank == (styles == "bank")
    assert module(images) is images


def test_normalised_batches_need_and_use_the_statistics(small_stylizer, bank, batch):
    values = batch.float() / 255
    normalised = (values - MEAN) / STD
    with pytest.raises(ValueError, match="after Normalize.*mean= and std="):
        BatchStylize(small_stylizer, bank, p=1.0)(normalised)
    told = BatchStylize(small_stylizer, bank, p=1.0, mean=MEAN.flatten().tolist(), std=STD.flatten().tolist(),
                        generator=torch.Generator().manual_seed(0))
    plain = BatchStylize(small_stylizer, bank, p=1.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(told(normalised), (plain(values) - MEAN) / STD, atol=1e-4, rtol=0)


def test_bad_input_gives_clear_errors(small_stylizer, bank, batch):
    module = BatchStylize(small_stylizer, bank, p=1.0)
    with pytest.raises(ValueError, match="5 channels"):
        module(torch.zeros(2, 5, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="NaN or Inf"):
        module(torch.full((2, 3, 32, 32), float("inf")))
    with pytest.raises(ValueError, match="at least 8x8"):
        module(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"collated \(B, C, H, W\)"):
        module(batch[0])
    with pytest.raises(ValueError, match="one per sample"):
        module(batch, domains=["a"])
    for p in (-0.5, 1.01):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            BatchStylize(small_stylizer, bank, p=p)
    with pytest.raises(TypeError, match="StyleBank"):
        BatchStylize(small_stylizer, bank=[1, 2])
    with pytest.raises(ValueError, match="needs the batch's domains"):
        BatchStylize(small_stylizer, bank, p=1.0, strategy="other_domain")(batch)


def test_loader_wrapper_and_collate_leave_labels_alone(small_stylizer, bank, batch):
    samples = [{"image": image, "label": i, "site": "ab"[i % 2]} for i, image in enumerate(batch)]
    module = BatchStylize(small_stylizer, bank, p=1.0)
    loader = DataLoader(samples, batch_size=4)
    wrapped = StylizedLoader(loader, module, image_key="image", domain_key="site")
    assert len(wrapped) == 2
    outputs = list(wrapped)
    assert [o["label"].tolist() for o in outputs] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert all(bool(_changed(o["image"], batch[i * 4 : (i + 1) * 4]).all()) for i, o in enumerate(outputs))
    pairs = [(image, i) for i, image in enumerate(batch)]
    collate = StylizeCollate(None, module)
    images, labels = next(iter(DataLoader(pairs, batch_size=8, collate_fn=collate)))
    assert torch.equal(labels, torch.arange(8)) and images.dtype == torch.uint8
    assert bool(_changed(images, batch).all())


def test_a_key_the_batch_does_not_have_names_what_it_has(small_stylizer, bank, batch):
    samples = [{"image": image, "label": i} for i, image in enumerate(batch)]
    module = BatchStylize(small_stylizer, bank, p=1.0)
    with pytest.raises(KeyError, match=r"image_key=0 is not in the collated batch, which is a dict with the keys "
                                       r"'image', 'label': .*image_key='image'"):
        next(iter(StylizedLoader(DataLoader(samples, batch_size=4), module)))  # the default image_key=0
    with pytest.raises(KeyError, match=r"domain_key='site' is not in the collated batch"):
        StylizeCollate(None, module, image_key="image", domain_key="site")(samples)
    pairs = [(image, i) for i, image in enumerate(batch)]
    with pytest.raises(KeyError, match=r"image_key=2 .* a list of 2 items \(indices 0..1\)"):
        StylizeCollate(None, module, image_key=2)(pairs)


def test_batch_of_one_with_in_batch_styles_is_left_alone_and_says_why(small_stylizer):
    image = torch.rand(1, 3, 32, 32)
    out, info = BatchStylize(small_stylizer, p=1.0)(image, return_info=True)
    assert torch.equal(out, image)
    assert info.applied.tolist() == [False] and info.style_index.tolist() == [-1]
    assert info.no_style.tolist() == [True]
    two = torch.rand(2, 3, 32, 32)
    _, info = BatchStylize(small_stylizer, p=1.0)(two, return_info=True)
    assert info.applied.tolist() == [True, True] and info.no_style.tolist() == [False, False]


def test_one_style_for_the_batch_never_of_a_rows_own_domain(small_stylizer, bank, batch):
    """same_on_batch with domains: the one style is of another domain than the first row's, and
    the rows of its own domain are left as they are (no_style), never given it."""
    module = BatchStylize(small_stylizer, bank, p=1.0, same_on_batch=True, generator=torch.Generator().manual_seed(0))
    domains = list("aabbcabc")
    left_out = 0
    for _ in range(12):
        out, info = module(batch, domains=domains, return_info=True)
        assert len(info.style_index[info.applied].unique()) == 1
        style_domain = bank.domains[int(info.style_index[info.applied][0])]
        assert style_domain != domains[0]
        for row, domain in enumerate(domains):
            own = domain == style_domain
            assert bool(info.applied[row]) != own and bool(info.no_style[row]) == own
            if own:
                assert torch.equal(out[row], batch[row]) and info.style_index[row] == -1
        left_out += int(info.no_style.sum())
    assert left_out > 0


def test_float_domain_labels_are_the_banks_integer_labels(small_stylizer, histology_crops, batch):
    bank = StyleBank.from_images(histology_crops, small_stylizer, domains=[0, 0, 1, 1, 2])
    labels = torch.tensor([0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0])
    module = BatchStylize(small_stylizer, bank, p=1.0, generator=torch.Generator().manual_seed(0))
    for _ in range(4):
        _, info = module(batch, domains=labels, return_info=True)
        assert all(bank.domains[int(j)] != str(int(labels[i])) for i, j in enumerate(info.style_index))


@pytest.mark.parametrize("labels", [
    np.array([0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0], dtype=np.float32),
    np.array([0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0], dtype=np.float16),
    np.array([0, 1, 2, 0, 1, 2, 0, 1]),
    [np.float32(v) for v in (0, 1, 2, 0, 1, 2, 0, 1)],
    [np.array(v, dtype=np.float64) for v in (0, 1, 2, 0, 1, 2, 0, 1)],  # 0-d arrays
], ids=["float32", "float16", "int64", "scalars", "0-d"])
@pytest.mark.parametrize("bank_labels", [[0, 0, 1, 1, 2], np.array([0, 0, 1, 1, 2], dtype=np.float32)],
                         ids=["int-bank", "float32-bank"])
def test_numpy_domain_labels_are_the_banks_labels(small_stylizer, histology_crops, batch, labels, bank_labels):
    """1, 1.0, np.float32(1) and np.int64(1) are one domain: a row is never styled by its own."""
    bank = StyleBank.from_images(histology_crops, small_stylizer, domains=bank_labels)
    module = BatchStylize(small_stylizer, bank, p=1.0, generator=torch.Generator().manual_seed(0))
    expected = [str(int(v)) for v in labels]
    for _ in range(5):
        _, info = module(batch, domains=labels, return_info=True)
        assert all(bank.domains[int(j)] != expected[i] for i, j in enumerate(info.style_index))


@pytest.mark.parametrize("shape", ["tensor", "array", "list"])
def test_column_domain_labels_are_one_label_per_row(small_stylizer, histology_crops, batch, shape):
    """A dataset returning ``torch.tensor([domain])`` collates to (B, 1): its rows were the labels ``'[0]'``, a domain
    of no bank, so ``other_domain`` drew a row's own lab about as often as any other."""
    bank = StyleBank.from_images(histology_crops, small_stylizer, domains=[0, 0, 1, 1, 2])
    column = [[v] for v in (0, 1, 2, 0, 1, 2, 0, 1)]
    labels = {"tensor": torch.tensor(column), "array": np.array(column), "list": column}[shape]
    module = BatchStylize(small_stylizer, bank, p=1.0, generator=torch.Generator().manual_seed(0))
    for _ in range(5):
        _, info = module(batch, domains=labels, return_info=True)
        assert all(bank.domains[int(j)] != str(column[i][0]) for i, j in enumerate(info.style_index))


@pytest.mark.parametrize("labels", [torch.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1]], torch.tensor(1), "01010101"],
                         ids=["one-hot", "0-d", "str"])
def test_domains_that_are_not_one_label_per_row_are_refused(small_stylizer, histology_crops, batch, labels):
    bank = StyleBank.from_images(histology_crops, small_stylizer, domains=[0, 0, 1, 1, 2])
    with pytest.raises(ValueError, match="one-hot labels: pass labels.argmax|single value"):
        BatchStylize(small_stylizer, bank, p=1.0)(batch, domains=labels)


@pytest.mark.parametrize("channels", [2, 4])
def test_normalised_batches_keep_their_alpha_exactly(small_stylizer, bank, batch, channels):
    colour = batch.float()[:, : channels - 1] / 255
    # from half transparent: a wholly transparent image is white glass to the engine, its colours kept as stored
    alpha = torch.linspace(0.5, 1, batch.shape[0]).view(-1, 1, 1, 1).expand(-1, 1, *batch.shape[-2:])
    mean, std = [0.5], [0.25]  # one value for every channel, alpha included
    images = (torch.cat([colour, alpha], dim=1) - 0.5) / 0.25
    out = BatchStylize(small_stylizer, bank, p=1.0, mean=mean, std=std)(images)
    assert out.shape == images.shape
    assert torch.equal(out[:, -1], images[:, -1])  # alpha exactly as given
    assert bool(_changed(out[:, :-1], images[:, :-1]).all())


@pytest.mark.parametrize(("styles", "mode"), [("bank", "relative"), ("bank", "detail"), ("bank", "resize"),
                                           ("in batch", "relative")])
def test_a_uint8_call_reads_nothing_of_the_batch_back(small_stylizer, bank, batch, styles, mode):
    """On a GPU every read of a value back to the host, and every copy of a tensor made from
    Python values, waits for all queued work (a training step's backward pass, say): a call
    with neither queues its work and returns."""
    module = BatchStylize(small_stylizer, bank if styles == "bank" else None, p=0.6, mode=mode,
                          generator=torch.Generator().manual_seed(0))
    module(batch)  # set-up (the bank's colour profiles) is not per call
    with HostReads(batch, bank.streams.layers, *small_stylizer.model.parameters()) as reads:
        out, info = module(batch, return_info=True)
    assert 0 < int(info.applied.sum()) < len(batch) and not torch.equal(out, batch)
    assert reads.found == []


def test_a_normalised_batch_is_read_back_once_for_its_range_check(small_stylizer, bank, batch):
    module = BatchStylize(small_stylizer, bank, p=1.0, mean=MEAN.flatten().tolist(), std=STD.flatten().tolist())
    normalised = (batch.float() / 255 - MEAN) / STD
    with HostReads(normalised) as reads:
        module(normalised)
    assert reads.found == ["tolist"]  # the extremes, once: not again by to_batch and stylize_batch
    with pytest.raises(ValueError, match="outside 0–1"):  # and that one check still refuses
        module(normalised * 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_call_never_waits_for_the_device(histology_crops, batch):
    on_cuda = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cuda")
    images = batch.cuda()
    for bank in (sva.StyleBank.from_images(histology_crops, on_cuda), None):
        module = BatchStylize(on_cuda, bank, p=0.6, generator=torch.Generator().manual_seed(0))
        module(images)  # set-up (the bank's streams and colour profiles) is not per call
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")  # any wait for the device raises
        try:
            out, info = module(images, return_info=True)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert bool(info.applied.any()) and out.device == images.device
        assert not torch.equal(out, images)
    loader = StylizedLoader([(batch, torch.arange(len(batch)))] * 2, module, device="cuda")  # unpinned CPU batches
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # their copy to the GPU is queued, not waited for
    try:
        outputs = [(images, labels) for images, labels in loader]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(images.device.type == "cuda" and labels.device.type == "cpu" for images, labels in outputs)


def test_a_checkpoint_and_a_bank_file_are_taken_as_every_front_end_takes_them(saved, small_stylizer, bank):
    """``BatchStylize(checkpoint)``, ``BatchStylize(stylizer, bank="bank.safetensors")``: the sources the other
    front-ends take, loaded on first use (the pixels of the objects they hold) and pickled as the sources, so a
    ``StylizeCollate`` worker loads the model itself instead of receiving its weights."""
    checkpoint, bank_path = saved
    images = torch.rand(4, 3, 32, 32)

    def module(stylizer, styles) -> BatchStylize:
        return BatchStylize(stylizer, styles, p=1.0, mode="detail", generator=torch.Generator().manual_seed(0))

    for (stylizer, styles), (same_stylizer, same_styles) in [
        ((checkpoint, bank_path), (small_stylizer, bank)),
        ((small_stylizer, bank_path), (small_stylizer, bank)),
        ((checkpoint, None), (small_stylizer, None)),  # in-batch styles
    ]:
        assert torch.equal(module(stylizer, styles)(images), module(same_stylizer, same_styles)(images))
    from_files, from_objects = module(checkpoint, bank_path), module(small_stylizer, bank)
    from_files(images), from_objects(images)  # loaded, and their generators one call on
    weights = sum(p.numel() * p.element_size() for p in small_stylizer.model.parameters())
    travels = pickle.dumps(StylizeCollate(None, from_files))
    assert len(travels) < weights / 4
    assert torch.equal(pickle.loads(travels).batch_stylize(images), from_objects(images))


def test_an_empty_batch_of_a_kind_no_front_end_takes_is_refused_as_a_full_one(small_stylizer, bank):
    """The docs promise the kind (type, dtype, shape, channels) checked always: an empty batch skipped it."""
    for empty in (torch.zeros(0, 5, 32, 32), torch.zeros(0, 3, 32, 32, dtype=torch.int32)):
        with pytest.raises((ValueError, TypeError)) as full:
            BatchStylize(small_stylizer, bank, p=1.0)(torch.zeros(2, *empty.shape[1:], dtype=empty.dtype))
        with pytest.raises(type(full.value)):
            BatchStylize(small_stylizer, bank, p=1.0)(empty)
    assert BatchStylize(small_stylizer, bank, p=1.0)(torch.zeros(0, 3, 32, 32)).shape == (0, 3, 32, 32)
