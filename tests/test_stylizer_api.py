"""The Stylizer's Python API holds what it promises: options set later are checked as at
construction, the caller's model is left as it was, outputs are ordinary tensors, empty batches
and lists are answered as the front-ends answer them, and dtypes may be named."""

from __future__ import annotations

import pickle
import re
import warnings

import numpy as np
import pytest
import torch

import stylizing_vit_aug as sva
from helpers import CAMELYON_MEAN, CAMELYON_STD, DATA, make_small_model
from stylizing_vit_aug.images import ImageError
from stylizing_vit_aug.stylizer import STRIP_PIXELS


def _stylizer(model: sva.StylizingViT | None = None, **options) -> sva.Stylizer:
    options = {"device": "cpu", "dtype": torch.float32, "mode": "detail", **options}
    return sva.Stylizer(model if model is not None else make_small_model(), CAMELYON_MEAN, CAMELYON_STD, **options)


def _raised(call) -> BaseException:
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    return info.value


BAD_OPTIONS = [
    ("mode", "Relative"),
    ("mode", None),
    ("background", "Keep"),
    ("background", None),
    ("background", "keep "),
    ("colour_match", "False"),
    ("colour_match", 1),
    ("chunk_size", 0),
    ("chunk_size", -1),
    ("chunk_size", 1.5),
    ("chunk_size", True),
    ("compile", "fast"),
    ("compile", 1),
]


@pytest.mark.parametrize("name, bad", BAD_OPTIONS, ids=repr)
def test_an_option_set_later_is_refused_as_construction_refuses_it_and_stays_as_it_was(small_stylizer, name, bad):
    """``st.background = "Keep"`` painted the glass and ``st.colour_match = "False"`` matched colours."""
    refused_at_construction = _raised(lambda: _stylizer(**{name: bad}))
    before = getattr(small_stylizer, name)
    refused_when_set = _raised(lambda: setattr(small_stylizer, name, bad))
    assert type(refused_when_set) is type(refused_at_construction)
    assert str(refused_when_set) == str(refused_at_construction)
    assert getattr(small_stylizer, name) == before


def test_an_option_set_later_stylises_as_the_same_option_given_at_construction(small_stylizer):
    images = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    images[..., 20:] = 0.97  # slide glass, which background="keep" leaves as it is
    style = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    for name, value in [("background", "style"), ("colour_match", False), ("chunk_size", 1), ("mode", "resize")]:
        setattr(small_stylizer, name, value)
        made = _stylizer(**small_stylizer.settings, chunk_size=small_stylizer.chunk_size)
        assert torch.equal(small_stylizer(images, style), made(images, style)), name
    assert small_stylizer.settings == {"mode": "resize", "background": "style", "colour_match": False}


def test_dtype_and_device_are_read_only_and_the_error_says_what_to_do(small_stylizer):
    with pytest.raises(AttributeError, match=r"Stylizer\.dtype cannot be set: .*dtype=torch\.bfloat16"):
        small_stylizer.dtype = torch.bfloat16
    assert small_stylizer.dtype == torch.float32 and "dtype=torch.float32" in repr(small_stylizer)
    with pytest.raises(AttributeError, match=re.escape("stylizer.to('cpu')")):
        small_stylizer.device = "cpu"
    st = small_stylizer  # the fix the dtype error gives, as written there
    remade = sva.Stylizer(st.model, st.mean, st.std, dtype=torch.bfloat16, **st.settings)
    assert remade.dtype == torch.bfloat16 and remade.settings == st.settings
    assert small_stylizer.to("cpu").device == torch.device("cpu")


@pytest.mark.parametrize(
    "bad",
    [
        {"std": (0.2, 0.2, 0.0)},
        {"mode": "relativ"},
        {"background": "white"},
        {"dtype": torch.float64},
        {"dtype": "float64"},
        {"colour_match": "yes"},
        {"chunk_size": 0},
        {"compile": "fast"},
        {"device": "gpu"},
    ],
    ids=repr,
)
def test_a_refused_stylizer_leaves_the_callers_model_as_it_was(bad):
    model = make_small_model().train()
    weights = {name: p.clone() for name, p in model.state_dict().items()}
    options = {"device": "cpu", **bad}
    std = options.pop("std", CAMELYON_STD)
    with pytest.raises((ValueError, TypeError)):
        sva.Stylizer(model, CAMELYON_MEAN, std, **options)
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert all(torch.equal(p, weights[name]) for name, p in model.state_dict().items())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_stylizer_leaves_its_models_mode_and_gradients_and_its_pixels_do_not_depend_on_them(dtype):
    """A model being trained stays trainable (the trainer re-enabled training after the Stylizer
    froze it); the pixels are those of a model in eval mode that needs no gradient."""
    training = make_small_model().train()
    stylizer = _stylizer(training, dtype=dtype)
    assert training.training and all(p.requires_grad for p in training.parameters())
    frozen = _stylizer(make_small_model().eval().requires_grad_(False), dtype=dtype)
    images, style = torch.rand(2, 3, 40, 40), torch.rand(1, 3, 40, 40)
    out = stylizer(images, style)
    assert torch.equal(out, frozen(images, style)) and not out.requires_grad
    assert all(p.grad is None for p in training.parameters())  # nothing was recorded for backward
    loss = training(images[:, :, :32, :32], style[:, :, :32, :32]).mean()
    loss.backward()  # and it still trains
    assert all(p.grad is not None for p in training.parameters())


def test_every_tensor_entry_point_gives_an_ordinary_tensor_a_training_step_can_use(small_stylizer):
    """stylize_batch and stylize_views gave inference tensors: "Inference tensors cannot be saved for backward"."""
    images, style = torch.rand(2, 3, 40, 40), torch.rand(1, 3, 40, 40)
    side = int(STRIP_PIXELS**0.5) + 8  # over STRIP_PIXELS: the full-resolution strip path
    outputs = {
        "stylize_batch": small_stylizer.stylize_batch(images, style),
        "stylize_views": small_stylizer.stylize_views(images, torch.rand(4, 3, 40, 40)),
        "call": small_stylizer(images, style),
        "call, strips": small_stylizer(torch.rand(1, 3, side, side), style),
    }
    conv = torch.nn.Conv2d(3, 2, 3)
    for name, out in outputs.items():
        assert not out.is_inference(), name
        conv(out).mean().backward()  # raised for the inference tensors
        out.mul_(0.5)  # and in place, as augmentation pipelines do


@pytest.mark.parametrize("big", [False, True], ids=["small", "strip path"])
def test_a_list_that_mixes_channel_counts_is_refused_in_one_wording_at_any_size(small_stylizer, big):
    """Large images (the strip path) gave torch's "Sizes of tensors must match"."""
    side = int(STRIP_PIXELS**0.5) + 8 if big else 64
    rgb = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    with pytest.raises(ImageError) as info:
        small_stylizer([rgb, rgb[..., 0]], rgb[:40, :40])
    sizes = sorted([(1, side, side), (3, side, side)])
    assert str(info.value) == (
        f"images is a list of images of different channel counts {sizes}; convert them to one (e.g. PIL's "
        ".convert('RGB'), or gray for a 1-channel model) or stylise them one at a time."
    )


EMPTY = {
    "torch float": torch.rand(0, 3, 40, 40),
    "torch uint8": torch.zeros(0, 4, 40, 48, dtype=torch.uint8),
    "numpy uint8": np.zeros((0, 40, 48, 3), np.uint8),
    "numpy float32 gray": np.zeros((0, 40, 48, 1), np.float32),
    "torch float, strip-sized": torch.rand(0, 3, 1000, 1000),
}


@pytest.mark.parametrize("name", list(EMPTY))
def test_an_empty_batch_comes_back_empty_and_of_its_kind_as_from_the_tensor_core(small_stylizer, name):
    """The direct call raised "images is an empty batch"; stylize_batch, BatchStylize and StyleTTA give one back."""
    images = EMPTY[name]
    out = small_stylizer(images, torch.rand(1, 3, 40, 40))
    assert type(out) is type(images) and out.shape == images.shape and out.dtype == images.dtype
    if isinstance(images, torch.Tensor):
        core = small_stylizer.stylize_batch(images.float()[:, :3], torch.rand(1, 3, 40, 40))
        assert core.shape[0] == out.shape[0] == 0


@pytest.mark.parametrize(
    "images, strength, match",
    [
        (torch.rand(0, 5, 40, 40), 1.0, "5 channels"),
        (torch.rand(0, 3, 5, 40), 1.0, "at least 8x8"),
        (torch.zeros(0, 3, 40, 40, dtype=torch.int32), 1.0, "dtype"),
        (np.zeros((0, 3, 40, 40), np.uint8), 1.0, "channels-first"),
        (torch.rand(0, 3, 40, 40), 1.5, r"strength must lie in \[0, 1\]"),
    ],
    ids=["channels", "size", "dtype", "numpy channels-first", "strength"],
)
def test_an_empty_batch_is_still_checked_as_any_batch_is(small_stylizer, images, strength, match):
    with pytest.raises(ValueError, match=match):
        small_stylizer(images, torch.rand(1, 3, 40, 40), strength)


def test_a_direct_call_on_an_input_that_requires_grad_warns_as_the_front_ends_do(small_stylizer, bank):
    """The front-ends warned; the Stylizer itself returned a detached result silently."""
    images = torch.rand(2, 3, 40, 40, requires_grad=True)
    style = torch.rand(1, 3, 40, 40)
    calls = {
        "Stylizer": lambda: small_stylizer(images, style),
        "Stylizer.stylize_batch": lambda: small_stylizer.stylize_batch(images, style),
        "Stylizer.stylize_views": lambda: small_stylizer.stylize_views(images, torch.rand(4, 3, 40, 40)),
        "BatchStylize": lambda: sva.BatchStylize(small_stylizer, bank, p=1.0)(images),
    }
    for who, call in calls.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        said = [(str(w.message), w.filename) for w in caught]
        assert len(said) == 1, (who, said)  # a front-end's own word only, not the engine's too
        assert said[0][0].startswith(f"{who}: the stylizer runs without autograd"), said
        assert said[0][1] == __file__ or not who.startswith("Stylizer")  # the engine's points at the caller's line
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with torch.no_grad():
                call()  # no gradient asked for: nothing to say
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small_stylizer(images.detach(), style)
        # a front-end's checked call (range_checked=True) has said it in its own name: the engine is silent
        small_stylizer(images, style, range_checked=True)
        small_stylizer.stylize_batch(images, style, range_checked=True)


@pytest.mark.parametrize(
    "name, dtype",
    [
        ("bfloat16", torch.bfloat16),
        ("bf16", torch.bfloat16),
        ("torch.bfloat16", torch.bfloat16),
        ("float32", torch.float32),
        ("fp32", torch.float32),
        ("float16", torch.float16),
        ("fp16", torch.float16),
    ],
)
def test_a_dtype_may_be_named(name, dtype):
    """``dtype="bfloat16"`` was refused with "must be float32, bfloat16 or float16, got bfloat16"."""
    assert _stylizer(dtype=name).dtype == dtype


def test_load_stylizer_takes_a_dtype_name_and_an_unknown_one_is_named_as_a_string():
    assert sva.load_stylizer(device="cpu", dtype="bfloat16").dtype == torch.bfloat16
    with pytest.raises(ValueError, match=r"dtype must be torch\.float32, .* got 'float64'"):
        _stylizer(dtype="float64")
    with pytest.raises(ValueError, match=r"dtype must be torch\.float32, .* got torch\.float64"):
        _stylizer(dtype=torch.float64)


@pytest.mark.parametrize(
    "pattern, repo_ids, match",
    [
        (None, False, "pattern must be a string, a shell-style pattern such as 'tiny-\\*'"),
        (5, False, "pattern must be a string"),
        ("*", "yes", "repo_ids must be True"),
    ],
)
def test_list_checkpoints_refuses_what_is_not_a_pattern_with_a_type_error(pattern, repo_ids, match):
    with pytest.raises(TypeError, match=match):
        sva.list_checkpoints(pattern, repo_ids=repo_ids)
    assert sva.list_checkpoints("tiny-*")  # a pattern still filters


# Stylizers pickled by earlier releases: 0.1.0 (the file, made by the release itself) and development versions
OLD_OPTION_NAMES = ("mode", "background", "colour_match", "chunk_size", "compile", "dtype", "device")
PICKLED_BY_010 = DATA / "stylizer_0_1_0.pkl"  # how it was made: tests/data/make_stylizer_0_1_0.py
# what reproduces 0.1.0: it stylised every pixel and had no colour step
SETTINGS_OF_010 = {"background": "style", "colour_match": False}


class _PickledBy010:
    """Pickles as an earlier release pickled a Stylizer: the class and the state it gave."""

    def __init__(self, state: dict) -> None:
        self.state = state

    def __reduce__(self):
        return object.__new__, (sva.Stylizer,), self.state


class _State:
    def __setstate__(self, state: dict) -> None:
        self.state = state


class _StateReader(pickle.Unpickler):
    """Reads a pickled Stylizer as the bare state its release wrote, to make other layouts from it."""

    def find_class(self, module: str, name: str):
        return (
            _State if (module, name) == ("stylizing_vit_aug.stylizer", "Stylizer") else super().find_class(module, name)
        )


def _pickled_by_010() -> dict:
    with open(PICKLED_BY_010, "rb") as file:
        return pickle.load(file)


def _state_of_010(**changes) -> dict:
    with open(PICKLED_BY_010, "rb") as file:
        return {**_StateReader(file).load()["stylizer"].state, **changes}


def _old_state(stylizer: sva.Stylizer, **changes) -> dict:
    """A development version's layout (between the colour step and checked properties): plain options."""
    state = stylizer.__getstate__()
    old = {name: state.pop(f"_{name}") for name in OLD_OPTION_NAMES}
    return {**state, **old, **changes}


def _today(loaded: sva.Stylizer) -> sva.Stylizer:
    """A Stylizer made by this release from the same weights, statistics and options."""
    model = sva.StylizingViT.from_config(loaded.config)
    model.load_state_dict(loaded.model.state_dict())
    options = {name: getattr(loaded, name) for name in OLD_OPTION_NAMES}
    return sva.Stylizer(model, loaded.mean.tolist(), loaded.std.tolist(), **options)


def test_a_stylizer_pickled_by_the_0_1_0_release_loads_stylises_as_0_1_0_did_and_pickles_again():
    """0.1.0's pickle holds plain options, mean/std tensors and its own call functions; unpickled,
    every use raised AttributeError ('_compile'). Options it lacked take what it did."""
    pickled = _pickled_by_010()
    loaded = pickled["stylizer"]
    assert type(loaded) is sva.Stylizer
    assert {**loaded.settings, "chunk_size": loaded.chunk_size} == {
        **SETTINGS_OF_010,
        "mode": "detail",
        "chunk_size": 2,
    }
    assert (loaded.compile, loaded.dtype, loaded.device) == (False, torch.float32, torch.device("cpu"))
    assert not {"_relative_fn", "_stylize_fn", "mean", "std"} & set(vars(loaded))
    stylized = loaded(pickled["images"], pickled["style"])
    assert torch.equal(stylized, pickled["stylized"])  # 0.1.0's own output, at the model's size
    today = _today(loaded)
    assert loaded.fingerprint == today.fingerprint  # banks encoded by either are taken by the other
    images = torch.rand(3, 3, 40, 24, generator=torch.Generator().manual_seed(0))  # larger: the guided upsampling
    assert torch.equal(loaded(images, pickled["style"]), today(images, pickled["style"]))
    again = pickle.loads(pickle.dumps(loaded))
    assert again.settings == loaded.settings and torch.equal(
        again(images, pickled["style"]), today(images, pickled["style"])
    )
    with pytest.raises(ValueError, match="background must be one of"):
        again.background = "Keep"  # a checked property, as on any Stylizer


def test_a_stylizer_of_a_development_version_loads_with_its_own_options_and_those_it_lacked_as_0_1_0():
    """Versions after 0.1.0 added ``background`` (mean/std still tensors), then ``colour_match``,
    ``normalization`` and ``compile``, all plain attributes until they became checked properties."""
    with_background = pickle.loads(pickle.dumps(_PickledBy010(_state_of_010(background="keep"))))
    assert with_background.settings == {"mode": "detail", "background": "keep", "colour_match": False}
    options = {"mode": "resize", "background": "style", "colour_match": True, "chunk_size": 2}
    stylizer = _stylizer(**options)
    loaded = pickle.loads(pickle.dumps(_PickledBy010(_old_state(stylizer))))
    assert {name: getattr(loaded, name) for name in OLD_OPTION_NAMES} == {
        name: getattr(stylizer, name) for name in OLD_OPTION_NAMES
    }
    images = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    style = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    assert torch.equal(loaded(images, style), stylizer(images, style))
    assert torch.equal(with_background(images, style), _today(with_background)(images, style))


REFUSED_WITH_WHAT_TO_DO = r"saved by an earlier stylizing-vit-aug: 0\.1\.0 or a development version.*load_stylizer"


@pytest.mark.parametrize("name, bad", [*BAD_OPTIONS, ("device", "nowhere"), ("dtype", torch.int8)], ids=repr)
def test_a_value_an_earlier_release_let_through_is_refused_on_unpickling_with_what_to_do(small_stylizer, name, bad):
    """Earlier releases did not check an option set later (``st.background = "Keep"`` painted the glass)."""
    data = pickle.dumps(_PickledBy010(_old_state(small_stylizer, **{name: bad})))
    with pytest.raises((ValueError, TypeError, RuntimeError), match=REFUSED_WITH_WHAT_TO_DO):
        pickle.loads(data)


@pytest.mark.parametrize("name, bad", [("mode", "Detail"), ("chunk_size", 0), ("dtype", torch.int8)], ids=repr)
def test_a_value_0_1_0_let_through_is_refused_on_unpickling_its_stylizer(name, bad):
    with pytest.raises((ValueError, TypeError), match=REFUSED_WITH_WHAT_TO_DO):
        pickle.loads(pickle.dumps(_PickledBy010(_state_of_010(**{name: bad}))))


def test_a_pickled_bf16_stylizer_carries_its_weights_once_and_stylises_alike():
    """A bf16 Stylizer computes in a bf16 copy of its network, made at its first call: what a spawned DataLoader
    worker receives is the fp32 weights alone (the copy and the weights' hash are made again there)."""
    stylizer = sva.Stylizer(make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.bfloat16)
    images, styles = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    before = stylizer(images, styles)  # makes the copy
    weights = sum(t.numel() * t.element_size() for t in stylizer.model.state_dict().values())
    pickled = pickle.dumps(stylizer)
    assert weights < len(pickled) < 1.25 * weights  # one copy of the weights, not two
    copy = pickle.loads(pickled)
    assert torch.equal(copy(images, styles), before) and copy.fingerprint == stylizer.fingerprint
