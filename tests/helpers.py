"""What several test files share that is not a fixture, so no test file imports another (the
fixtures are in shared_fixtures.py): the small random model and its statistics, files to read and
write (images, a truncated JPEG, the run logs), the tiny training run's arguments, a disk that
fills up, what a block reads back from the device, the ranks of a multi-process run started
without the launcher, and every front-end's answer on integer pixels under a value range.

It imports no test framework: test_memory.py imports it in a fresh interpreter too.
"""

from __future__ import annotations

import argparse
import ast
import csv
import errno
import importlib.util
import io
import json
import os
import re
import socket
import stat
import struct
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from PIL import Image
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree
from torch.utils._device import _device_constructors
from torch.utils._python_dispatch import TorchDispatchMode

import stylizing_vit_aug as sva
from stylizing_vit_aug import devices
from stylizing_vit_aug.train.stain import RGB_FROM_HED

DATA = Path(__file__).parent / "data"
HISTOLOGY = Path(sva.__file__).parent / "assets" / "histology"
SMALL_CONFIG = dict(img_size=32, patch_size=8, in_chans=3, embed_dim=48, depth=2, num_heads=3)
CAMELYON_MEAN = (0.7440, 0.5895, 0.7214)
CAMELYON_STD = (0.1787, 0.2131, 0.1721)
# What every refusal of statistics in the wrong units says.
UNITS_HINT = "0–1 units, e.g. ImageNet's (0.485, 0.456, 0.406)"

# The hypothesis profile shared_fixtures.py loads: "ci" (fixed case counts) or "long" (20x the cases).
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
EXAMPLES_SCALE = {"ci": 1, "long": 20}.get(HYPOTHESIS_PROFILE, 1)


def examples(count: int) -> int:
    """Generated cases for one property test: ``count`` in CI, 20x under the long profile."""
    return count * EXAMPLES_SCALE


# -- models and weights --------------------------------------------------------------------------
def make_small_model(seed: int = 0, **overrides) -> sva.StylizingViT:
    """A random 32-px network: every code path of a real one, fast on 2 CPU cores."""
    torch.manual_seed(seed)
    return sva.StylizingViT(**{**SMALL_CONFIG, **overrides})


def make_small_stylizer() -> sva.Stylizer:
    """A random 32-px Stylizer on CPU: fast, and every code path of a real one.

    ``detail`` mode: a random network's style-dependent change (what ``relative`` keeps) is a few
    thousandths, too small for the front-end tests to see that a row was stylised at all.
    """
    return sva.Stylizer(
        make_small_model(), CAMELYON_MEAN, CAMELYON_STD, device="cpu", dtype=torch.float32, mode="detail"
    )


def count_stylized_rows(stylizer: sva.Stylizer, monkeypatch) -> list[int]:
    """Watch ``stylizer.stylize_batch``: the list fills with the row count of every call."""
    seen: list[int] = []
    original = stylizer.stylize_batch

    def spy(values, styles, strength=1.0, **kwargs):
        seen.append(values.shape[0])
        return original(values, styles, strength, **kwargs)

    monkeypatch.setattr(stylizer, "stylize_batch", spy)
    return seen


def state_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of the weights, as safetensors saves them."""
    return {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def assert_same_weights(model: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    got = model.state_dict()
    assert set(got) == set(expected)
    for key, tensor in expected.items():
        assert torch.equal(got[key].cpu(), tensor), key


# -- image files and run logs --------------------------------------------------------------------
def random_rgb(seed: int, size: tuple[int, int] = (40, 48)) -> np.ndarray:
    """Uniform random uint8 RGB pixels, ``size`` as (height, width)."""
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def write_images(folder: Path, count: int, size=(40, 48), suffix=".png", seed=0) -> list[Path]:
    """``count`` random RGB images ``img00<suffix>``, ``img01<suffix>``... of ``size`` (height, width)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img{i:02d}{suffix}"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def write_image(path: Path, size=(48, 40), seed=0, white_fraction=0.0) -> Path:
    """One tissue-like training image of ``size`` (width, height); ``white_fraction`` of it, on
    the left, blank glass."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(40, 200, (size[1], size[0], 3), dtype=np.uint8)
    if white_fraction:
        cut = int(size[0] * white_fraction)
        pixels[:, :cut] = 250  # glass background on the left
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def save_crops(folder: Path, crops: Sequence[np.ndarray], stem: str = "style") -> list[str]:
    """``crops`` written as ``folder/<stem><i>.png`` (the folder made), their paths as strings, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}{i}.png" for i in range(len(crops))]
    for path, crop in zip(paths, crops):
        Image.fromarray(crop).save(path)
    return [str(path) for path in paths]


class TableNet(torch.nn.Module):
    """A classifier that returns rows of a fixed logit table in call order, whatever the input
    (hand-computable): under StyleTTA, the original's rows first, then the styled views'
    (view-major), so ``table.view(V, B, K)`` is each view's logits."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.table, self.served = table, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.table[self.served : self.served + x.shape[0]]
        self.served += x.shape[0]
        return out


def truncated_jpeg(path: Path, size=(40, 48)) -> Path:
    """A JPEG cut in half: its header reads, its pixels do not (PIL: 'image file is truncated')."""
    buffer = io.BytesIO()
    Image.fromarray(random_rgb(99, size)).save(buffer, format="JPEG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk as the format lays it out (length, type, data, CRC of type and data), to build
    files with the chunks Pillow does not write."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def srgb_profile() -> bytes:
    """littlecms's sRGB ICC profile."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# Display P3's colorants (D50, as an ICC profile holds them): a wide-gamut RGB profile
_P3 = {b"rXYZ": (0.5151, 0.2412, -0.0011), b"gXYZ": (0.2920, 0.6922, 0.0419), b"bXYZ": (0.1571, 0.0666, 0.7841)}


def wide_gamut_profile(description: str = "Wide P3 gamut") -> bytes:
    """littlecms's sRGB profile with Display P3's colorants and ``description`` (13 characters, as the
    description it replaces): a wide-gamut RGB profile that Pillow reads, made without a file."""
    icc = bytearray(srgb_profile())
    (count,) = struct.unpack(">I", icc[128:132])
    for i in range(count):
        signature, offset, _ = struct.unpack(">4sII", icc[132 + 12 * i : 144 + 12 * i])
        if signature in _P3:
            icc[offset + 8 : offset + 20] = struct.pack(">3i", *(round(v * 65536) for v in _P3[signature]))
    icc[84:100] = bytes(16)  # no profile ID: it would no longer match
    assert len(description) == len("sRGB built-in")
    return bytes(icc).replace("sRGB built-in".encode("utf-16-be"), description.encode("utf-16-be"))


def loading_code(card: str) -> str:
    """A model card's How to load code block, which must parse as Python (once its placeholders are
    replaced, a user runs it as it is)."""
    found = re.search(r"## How to load\n\n```python\n(.*?)```", card, re.S)
    assert found, f"the card has no '## How to load' python block:\n{card}"
    ast.parse(found.group(1))
    return found.group(1)


class Openings(Counter):
    """How many times each file was opened, by ``os.fspath`` of its resolved path (pytest's
    ``tmp_path`` is resolved already, so ``openings[str(tmp_path / name)]`` reads it). ``then``, when
    set, runs with the path once after a file's first opening (to change the file under the reader)."""

    then: Callable[[str], None] | None = None

    def opened(self, file: object) -> None:
        """Count one opening of ``file`` (a path; a file descriptor is not counted)."""
        if isinstance(file, (str, os.PathLike)):
            name = os.fspath(Path(file).resolve())
            self[name] += 1
            if self[name] == 1 and self.then is not None:
                self.then(name)

    def under(self, root: Path) -> dict[str, int]:
        """The counts of ``root`` and of the files in it."""
        top = os.fspath(Path(root).resolve())
        return {name: n for name, n in self.items() if name == top or name.startswith(top + os.sep)}


def stylize_argv(tmp_path: Path, checkpoint: str, batch_size: int, style_size: int = 32) -> list[str]:
    """``stylize TMP/in -o TMP/out`` on the CPU with one style image (written here) and ``--batch-size``."""
    style = write_images(tmp_path / "styles", 1, size=(style_size, style_size), seed=2)[0]
    return ["stylize", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--style", str(style),
            "--checkpoint", checkpoint, "--device", "cpu", "--batch-size", str(batch_size)]


def read_stylize_log(path: Path) -> list[dict[str, str]]:
    """The rows of stylize's CSV record."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def comparable_rows(path: Path) -> list[dict[str, str]]:
    """The rows of stylize's CSV record as two output folders' records compare: without ``output_folder``,
    the one column that names the folder itself."""
    return [{name: value for name, value in row.items() if name != "output_folder"} for row in read_stylize_log(path)]


def read_train_log(run: Path) -> list[dict]:
    """A training run's per-step log (log.jsonl)."""
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


# -- the tiny training run -----------------------------------------------------------------------
ARCH = ["--img-size", "32", "--patch-size", "8", "--embed-dim", "48", "--depth", "2", "--num-heads", "3"]
OPTIONS = {"--perceptual": "random", "--perceptual-width": "0.125", "--batch-size": "2",
           "--samples-per-epoch": "8", "--epochs": "2", "--workers": "0", "--val-samples": "4",
           "--validate-every": "4", "--seed": "5"}
FLAGS = ["--no-progress", "--cache-images"]


def options(**overrides: str) -> list[str]:
    """The tiny CPU run's arguments; overrides by name, e.g. epochs="1"."""
    values = {**OPTIONS, **{"--" + k.replace("_", "-"): v for k, v in overrides.items()}}
    return [item for pair in values.items() for item in pair] + FLAGS


def parse(*argv: str) -> argparse.Namespace:
    """``argv`` read by the train command's own parser."""
    from stylizing_vit_aug.commands.common import joined_number_lists
    from stylizing_vit_aug.commands.train import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(joined_number_lists(list(argv)))


# -- faults --------------------------------------------------------------------------------------
class FullDisk:
    """``os.write`` to regular files on a disk with ``free`` bytes left, as the kernel does it: a
    write larger than what is left writes part and returns a short count, the next one raises
    ENOSPC. ``lie`` instead reports every write as complete (a file system that drops data).
    (Python's own file objects and PIL's C encoders do not pass through here.)"""

    def __init__(self, free: int, *, lie: bool = False) -> None:
        self.free, self.lie, self.real = free, lie, os.write

    def __call__(self, fd: int, data) -> int:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return self.real(fd, data)
        if self.free <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        done = self.real(fd, bytes(data[: self.free]))
        self.free -= done
        return len(data) if self.lie else done


# -- the ranks of a multi-process run ------------------------------------------------------------
# Started as ``torchrun --standalone --nproc_per_node N`` starts its workers, but without the
# launcher: each process gets the environment torchrun gives a worker and that the code reads
# (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT; rank 0 hosts the
# env:// store). The launcher is one more process that imports torch (about 2.5 s of CPU a run
# on the 2-core test machine) and does nothing the code sees. One test still goes through
# torchrun itself (test_stylize_distributed.test_two_processes_share_the_files_and_merge_one_record).
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def ranks(
    processes: int, command: Sequence[str], env: Mapping[str, str], logs: Path
) -> Iterator[list[subprocess.Popen]]:
    """``command`` once per rank, each one's stdout and stderr in ``logs/rankR.log`` (files, not
    pipes: a rank blocked on a full pipe would hold the others at a barrier); every rank still
    running when the block ends is killed."""
    logs.mkdir(parents=True, exist_ok=True)
    world = {"WORLD_SIZE": str(processes), "LOCAL_WORLD_SIZE": str(processes),
             "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    started: list[subprocess.Popen] = []
    try:
        for rank in range(processes):
            with open(logs / f"rank{rank}.log", "w") as log:
                started.append(subprocess.Popen(
                    list(command), env={**env, **world, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                    stdout=log, stderr=subprocess.STDOUT,
                ))
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait()


# The environment of each rank a test starts: one thread each (they share the 2 cores).
RANKS_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def stand_in_ranks(patch, rank: int, others: Sequence[tuple[str, int] | None]) -> None:
    """Make this process rank ``rank`` of 2, its collectives stood in for (``patch`` a
    ``pytest.MonkeyPatch``): at each gathering in turn the other rank says what ``others`` holds
    (its failure as ``(reason, exit code)``, or None: it goes on)."""
    from stylizing_vit_aug.commands.common import Ranks  # here: test_memory.py imports this file bare

    said = iter(others)

    def gather(self, value):
        other = next(said, StopIteration)
        assert other is not StopIteration, f"a gathering past the {len(others)} the test stood in for"
        return [value, other] if rank == 0 else [other, value]

    patch.setenv("RANK", str(rank))
    patch.setenv("WORLD_SIZE", "2")
    patch.setattr(Ranks, "joined", lambda self: nullcontext())
    patch.setattr(Ranks, "from_rank_zero", lambda self, value: value)
    patch.setattr(Ranks, "barrier", lambda self: None)
    patch.setattr(Ranks, "sum", lambda self, values: values)
    patch.setattr(Ranks, "gather", gather)


def rank_output(logs: Path, rank: int) -> str:
    """What rank ``rank`` printed (stdout and stderr)."""
    return (logs / f"rank{rank}.log").read_text()


HAEMATOXYLIN, EOSIN, DAB = RGB_FROM_HED  # unit OD colours (Ruifrok & Johnston)


def two_stain_image(first: torch.Tensor, second: torch.Tensor, strengths: tuple[float, float], *, size: int = 64,
                    glass_columns: int = 0, floor: float = 0.0, seed: int = 0) -> torch.Tensor:
    """A ``[1, 3, size, size]`` 0–1 brightfield image of two stains with smooth random
    concentrations (``floor`` to ``floor + strengths``); the last ``glass_columns`` columns are
    clean glass."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 2, 8, 8, generator=generator)
    fields = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic")
    concentrations = floor + fields.clamp(0, 1) * torch.tensor(strengths).view(1, 2, 1, 1)
    if glass_columns:
        concentrations[..., -glass_columns:] = 0.0
    od = torch.einsum("ck,bkhw->bchw", torch.stack([first, second], dim=1), concentrations) + 0.03  # glass: ~0.03
    return ((256 * torch.exp(-od) - 1) / 255).clamp(0, 1)


# -- every front-end on integer pixels ------------------------------------------------------------
TORCH_INTS = {np.uint8: torch.uint8, np.int16: torch.int16, np.uint16: torch.uint16, np.int32: torch.int32}


def int_tensor(array: np.ndarray) -> torch.Tensor:
    """An integer numpy array as the torch tensor of its type (torch casts to uint16 but cannot take it from numpy)."""
    return torch.from_numpy(array.astype(np.int64)).to(TORCH_INTS[array.dtype.type])


def monai_stylized(stylizer, bank, value_range: tuple[int, int], image: np.ndarray | torch.Tensor):
    """MONAI's ``RandStylize`` (always firing, random state 0) on a CHW ``image``: a second call can compare."""
    from stylizing_vit_aug.transforms.monai import RandStylize

    monai = RandStylize(stylizer, bank, prob=1.0, value_range=value_range)
    monai.set_random_state(0)
    return monai(image)


def every_front_end(stylizer, bank, value_range: tuple[int, int], hwc: np.ndarray) -> dict[str, object]:
    """Each front-end's answer on the integer pixels ``hwc`` under ``value_range=``, given in its own kind (a CHW
    tensor, HWC numpy, MONAI's CHW numpy and tensor, a batch of one): its output as it returns it (the batch's
    one row), or the ``ValueError`` (an ``ImageError`` included) it raised. Needs MONAI and Albumentations."""
    from stylizing_vit_aug import AlbumentationsStylize, StylizeTransform
    from stylizing_vit_aug.transforms.batch import BatchStylize

    chw = np.ascontiguousarray(np.moveaxis(hwc, -1, 0))
    calls = {
        "StylizeTransform": lambda: StylizeTransform(stylizer, bank, p=1.0, value_range=value_range)(int_tensor(chw)),
        "AlbumentationsStylize": lambda: AlbumentationsStylize(stylizer, bank, p=1.0, value_range=value_range)(
            image=hwc
        )["image"],
        "RandStylize": lambda: monai_stylized(stylizer, bank, value_range, chw),
        "RandStylize (torch)": lambda: monai_stylized(stylizer, bank, value_range, int_tensor(chw)),
        "BatchStylize": lambda: BatchStylize(stylizer, bank, p=1.0, value_range=value_range)(int_tensor(chw[None]))[0],
    }
    answers: dict[str, object] = {}
    for name, call in calls.items():
        try:
            answers[name] = call()
        except ValueError as error:
            answers[name] = error
    return answers


def load_script(path: Path) -> ModuleType:
    """A script of the repo (a benchmark, a docs hook) as a module: they are files, not package
    modules, so tests load them by path."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_accelerators(patch) -> None:
    """Make ``patch`` (a ``pytest.MonkeyPatch``) show a machine without CUDA, MPS or XPU, whatever this one has."""
    patch.setattr(torch.cuda, "is_available", lambda: False)
    patch.setattr(torch.backends.mps, "is_available", lambda: False)
    if hasattr(torch, "xpu"):
        patch.setattr(torch.xpu, "is_available", lambda: False)


class _HostFactories(TorchFunctionMode):
    """Tensors a block makes with a factory (``torch.zeros``, ``torch.linspace``, ...) that names
    no device: on a GPU run they are made on the host, and computing with the device's data
    copies them over first."""

    def __init__(self, made: dict[int, torch.Tensor]) -> None:
        super().__init__()
        self.made = made

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func in _device_constructors() and kwargs.get("device") is None:
            self.made.update((id(t), t) for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor))
        return out


class HostReads(TorchDispatchMode):
    """The values computed from ``sources`` (and from what was computed from them) that a block
    reads back to the host, and the tensors it makes on the host (from Python values, or with a
    factory that names no device) to compute with them: on a GPU each is a wait for the device
    (a read, or a copy from pageable memory). On the CPU both are free, but where they happen is
    the same, so a CPU test finds them. What goes through ``devices.to_device_nowait`` is moved
    without a wait."""

    READS = ("_local_scalar_dense", "is_nonzero", "nonzero", "equal", "masked_select", "unique", "_unique2")

    def __init__(self, *sources: torch.Tensor) -> None:
        super().__init__()
        self._derived = {id(t): t for t in sources}  # strong references: ids stay unique
        self._made: dict[int, torch.Tensor] = {}  # tensors the block made on the host
        self.found: list[str] = []
        self._patched: dict[str, object] = {}
        self._reading = 0

    def _from_sources(self, tensors: Sequence[object]) -> bool:
        return any(isinstance(t, torch.Tensor) and id(t) in self._derived for t in tensors)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        inputs = pytree.tree_leaves((args, kwargs or {}))
        out = func(*args, **(kwargs or {}))
        outputs = [t for t in pytree.tree_leaves(out) if isinstance(t, torch.Tensor)]
        name = func.__name__.split(".")[0]
        made = any(isinstance(t, torch.Tensor) and id(t) in self._made for t in inputs)
        if self._from_sources(inputs):
            if name in self.READS:
                self.found.append(func.__name__)
            elif made:
                self.found.append(f"{func.__name__} of a tensor made on the host")  # a blocking copy
            self._derived.update((id(t), t) for t in outputs)
        elif made or name.startswith("lift_fresh"):
            self._made.update((id(t), t) for t in outputs)
        return out

    def __enter__(self) -> HostReads:
        for name in ("tolist", "numpy", "cpu"):  # reads that skip the dispatcher for CPU tensors
            original = self._patched[name] = getattr(torch.Tensor, name)

            def read(tensor, *args, _name=name, _original=original, **kwargs):
                if id(tensor) in self._derived and not self._reading:  # once: the function mode calls back
                    self.found.append(_name)
                self._reading += 1
                try:
                    return _original(tensor, *args, **kwargs)
                finally:
                    self._reading -= 1

            setattr(torch.Tensor, name, read)
        # what goes through devices.to_device_nowait reaches a GPU without a wait (on the CPU it
        # comes back as it is, so mark it here), wherever the library imported it
        self._nowait = [(module, module.to_device_nowait) for module in list(sys.modules.values())
                        if getattr(module, "__name__", "").startswith("stylizing_vit_aug")
                        and getattr(module, "to_device_nowait", None) is devices.to_device_nowait]

        nowait = devices.to_device_nowait

        def moved(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
            out = nowait(tensor, device)
            self._made.pop(id(out), None)
            return out

        for module, _ in self._nowait:
            module.to_device_nowait = moved
        self._factories = _HostFactories(self._made)
        self._factories.__enter__()
        return super().__enter__()

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        self._factories.__exit__(*exc)
        for name, original in self._patched.items():
            setattr(torch.Tensor, name, original)
        for module, original in self._nowait:
            module.to_device_nowait = original


def float64_slides(rows: int = 2) -> torch.Tensor:
    """float64 ``[rows, 3, 64, 64]``: glass (0.96, with per-row detail finer than float32 holds) on
    the left half, pink tissue on the right: the pixels the engine keeps must come back exactly."""
    generator = torch.Generator().manual_seed(0)
    images = torch.full((rows, 3, 64, 64), 0.96, dtype=torch.float64)
    images += 1e-9 * torch.rand(images.shape, generator=generator, dtype=torch.float64)
    pink = torch.tensor([0.85, 0.45, 0.7], dtype=torch.float64).view(3, 1, 1)
    images[..., 32:] = pink + 0.05 * torch.rand(rows, 3, 64, 32, generator=generator, dtype=torch.float64)
    return images


def spy_on_grids(monkeypatch, module: ModuleType | None = None) -> list[dict]:
    """The arguments, by name (``contents``, ``styles``, ``stylized``, ``content_labels``, ``style_labels``, ...),
    of each grid ``preview`` (or ``module``, e.g. the app's previewer, which imports it by name) draws from now
    on: what it shows, before its cells are resized."""
    import inspect

    from stylizing_vit_aug import grid

    real, seen = grid.content_style_grid, []
    signature = inspect.signature(getattr(real, "spied", real))  # the grid's own, under spies set before

    def spy(*args, **kwargs):
        seen.append(dict(signature.bind(*args, **kwargs).arguments))
        return real(*args, **kwargs)

    spy.spied = getattr(real, "spied", real)
    monkeypatch.setattr(module or grid, "content_style_grid", spy)
    return seen
