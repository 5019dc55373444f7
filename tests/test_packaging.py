"""What pyproject.toml and the distributions promise a user: each dependency's lower bound (and an
extra's, where what uses that extra needs more) is at least the first version with an API the code
uses (named here, and looked up in the installed version, so the table is not fiction), timm is
needed only by training, every licence text NOTICE names ships, and the sdist holds the tests whole
with what they read."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: pytest's own TOML reader
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "stylizing_vit_aug"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _resolve(dotted: str) -> object:
    """The object ``dotted`` names, importing the longest module prefix it starts with."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            found = getattr(found, name)
        return found
    raise ModuleNotFoundError(dotted)


def _takes_size() -> bool:
    from PIL import ImageFont

    return "size" in inspect.signature(ImageFont.load_default).parameters


def _reads_a_repeated_exif_header() -> bool:
    """Pillow >= 11 strips every leading ``Exif\\0\\0``: a PNG eXIf chunk that carries the header (as
    some writers do) gets Pillow's own in front of it, which 10.x read as a damaged block."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = 6
    read = Image.Exif()
    read.load(b"Exif\x00\x00" + exif.tobytes())
    return read.get(0x0112) == 6


def _draws_for_every_row() -> bool:
    """kornia >= 0.9 draws an augmentation's parameters for every row; 0.7/0.8 for the gated rows alone."""
    import torch
    from kornia.augmentation import IntensityAugmentationBase2D

    drawn: list[int] = []

    class Probe(IntensityAugmentationBase2D):
        def generate_parameters(self, batch_shape: torch.Size) -> dict[str, torch.Tensor]:
            drawn.append(batch_shape[0])
            return {}

    Probe(p=0.0).forward_parameters(torch.Size((4, 3, 8, 8)))
    return drawn == [4]


class Floor(NamedTuple):
    """A dependency's first version with what the code uses; below it the package fails (or, for
    the EXIF rows, misreads an image's orientation without a word) at run time."""

    distribution: str
    first: str
    api: str  # what the code uses, a dotted name where it is one
    user: str  # the file that uses it (from the repository's top) ...
    spelt: str  # ... and how it spells it there
    present: Callable[[], object] | None = None  # truthy where installed has it; None: resolve `api`
    extras: tuple[str, ...] = ()  # the extras that declare the bound; (): the core dependencies


HUB_ERRORS = ("EntryNotFoundError", "LocalEntryNotFoundError", "RepositoryNotFoundError", "RevisionNotFoundError")
SRC = "src/stylizing_vit_aug"
FLOORS = [
    Floor("torchvision", "0.21", "torchvision.transforms.v2.Transform.make_params", f"{SRC}/transforms/torchvision.py",
          "def make_params"),  # before 0.21 forward calls _get_params/_transform, and _transform raises
    Floor("torch", "2.6", "torch.nn.utils.get_total_norm", f"{SRC}/train/trainer.py",
          "get_total_norm"),  # torchvision 0.21's
    *(Floor("huggingface_hub", "0.25", f"huggingface_hub.errors.{error}", f"{SRC}/hub_download.py", error)
      for error in HUB_ERRORS),
    Floor("pillow", "9.3", "PIL.ExifTags.Base", f"{SRC}/images/headers.py", "ExifTags.Base"),
    Floor("pillow", "10.1", "PIL.ImageFont.load_default(size=)", f"{SRC}/grid.py", "load_default(size=", _takes_size),
    Floor("pillow", "11.0", "PIL.Image.Exif.load of a repeated Exif header", f"{SRC}/images/headers.py", "getexif",
          _reads_a_repeated_exif_header),
    Floor("kornia", "0.9", "kornia.augmentation parameters drawn for every row", f"{SRC}/transforms/kornia.py",
          'older_than(_kornia_version, "0.9")', _draws_for_every_row, extras=("kornia", "dev")),
    Floor("albumentations", "2.0.4", "albumentations.HEStain", "benchmarks/dg/methods.py", "A.HEStain",
          extras=("dev", "bench")),
    Floor("huggingface_hub", "1.0", "huggingface_hub.cli.hf.app", "tests/test_not_cached_hint.py",
          "from huggingface_hub.cli.hf import app", extras=("dev",)),  # the hf CLI as a typer app, which it runs
]
SETUPTOOLS_PEP_639 = Version("77")  # `license = "<SPDX expression>"` with `license-files`


def _requirements(entries: list[str]) -> dict[str, Requirement]:
    found = [Requirement(entry) for entry in entries]
    return {re.sub(r"[-_.]+", "-", requirement.name).lower(): requirement for requirement in found}


def _lower_bound(requirement: Requirement) -> Version:
    bounds = [Version(spec.version) for spec in requirement.specifier if spec.operator in (">=", "==", "~=")]
    assert bounds, f"{requirement} declares no lower bound"
    return max(bounds)


@pytest.mark.parametrize("floor", FLOORS, ids=[floor.api.split(" ")[0] for floor in FLOORS])
def test_each_lower_bound_has_what_the_code_uses(floor):
    extras = PYPROJECT["project"]["optional-dependencies"]
    for extra in floor.extras or (None,):
        entries = extras[extra] if extra else PYPROJECT["project"]["dependencies"]
        requirement = _requirements(entries).get(floor.distribution.replace("_", "-"))
        where = f"the {extra} extra" if extra else "the dependencies"
        assert requirement, f"no {floor.distribution} in {where}, but {floor.user} needs >= {floor.first}"
        assert _lower_bound(requirement) >= Version(floor.first), (
            f"pyproject declares {requirement} in {where}, but {floor.user} uses "
            f"{floor.api}, which {floor.distribution} has from {floor.first} on"
        )
    assert floor.spelt in (ROOT / floor.user).read_text(encoding="utf-8"), f"{floor.user} no longer uses {floor.api}"
    if floor.extras:  # an extra's library, absent outside its extra
        pytest.importorskip(floor.distribution)
    present = floor.present or (lambda: _resolve(floor.api))
    assert present(), f"the installed {floor.distribution} lacks {floor.api}: the table must name real APIs"


def test_the_build_backend_reads_the_pep_639_licence_fields():
    assert isinstance(PYPROJECT["project"]["license"], str) and PYPROJECT["project"]["license-files"]
    requirement = _requirements(PYPROJECT["build-system"]["requires"])["setuptools"]
    assert _lower_bound(requirement) >= SETUPTOOLS_PEP_639, (
        f"build-system requires {requirement}; setuptools reads a licence expression with license-files "
        f"from {SETUPTOOLS_PEP_639} on (older ones refuse the [project] table)"
    )
    setuptools = pytest.importorskip("setuptools")
    if Version(setuptools.__version__) >= SETUPTOOLS_PEP_639:  # the installed one really reads them
        from setuptools.config.pyprojecttoml import read_configuration

        assert read_configuration(ROOT / "pyproject.toml", expand=False)["project"]["license"] == "Apache-2.0"


def _imports_timm(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
        names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if any(name == "timm" or name.startswith("timm.") for name in names):
            return True
    return False


def test_timm_is_needed_by_training_alone():
    """timm is not a core dependency: a module outside ``train/`` that imported it would fail on a
    plain install (the model keeps its own Mlp/PatchEmbed, held equal to timm's by a dev test)."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "timm" not in _requirements(PYPROJECT["project"]["dependencies"])
    assert all("timm" in _requirements(extras[extra]) for extra in ("train", "dev"))
    importers = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if _imports_timm(path))
    assert importers and all(name.startswith("train/") for name in importers), importers


def test_every_licence_text_notice_names_ships_in_the_distributions():
    notice = (ROOT / "NOTICE").read_text(encoding="utf-8")
    named = sorted(set(re.findall(r"LICENSES/[\w.-]+\.txt", notice)))
    present = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "LICENSES").glob("*"))
    assert named and named == present, f"NOTICE names {named}; LICENSES/ holds {present}"
    patterns = PYPROJECT["project"]["license-files"]
    for name in named:
        assert any(Path(name).match(pattern) for pattern in patterns), f"{name} is not in license-files {patterns}"
    for asset in sorted((PACKAGE / "assets" / "histology").glob("*.jpg")):
        assert asset.name in notice, f"the bundled {asset.name} has no source or licence in NOTICE"


# not copied for the build: the checkout's outputs, caches and working files at its top (.gitignore's)
NOT_SOURCES = {".git", ".venv", ".benchmarks", ".hypothesis", ".pytest_cache", ".ruff_cache", ".whl", ".gl",
               "build", "dist", "site", "runs", "data", "test-artifacts"}


def _not_sources(folder: str, names: list[str]) -> set[str]:
    top = NOT_SOURCES if Path(folder) == ROOT else set()
    return {name for name in names if name in top or name == "__pycache__" or name.endswith(".egg-info")}


@pytest.mark.slow
def test_the_sdist_holds_the_tests_whole_and_what_they_read(tmp_path):
    setuptools = pytest.importorskip("setuptools")
    if Version(setuptools.__version__) < SETUPTOOLS_PEP_639:
        pytest.skip(f"setuptools {setuptools.__version__} cannot build this pyproject (needs {SETUPTOOLS_PEP_639})")
    copy = tmp_path / "repo"
    shutil.copytree(ROOT, copy, ignore=_not_sources)
    (copy / "tests" / ".hypothesis").mkdir(exist_ok=True)
    (copy / "tests" / ".hypothesis" / "example").write_text("a working file", encoding="utf-8")
    code = f"from setuptools import build_meta; print(build_meta.build_sdist({str(tmp_path / 'dist')!r}))"
    built = subprocess.run([sys.executable, "-c", code], cwd=copy, capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    with tarfile.open(tmp_path / "dist" / built.stdout.split()[-1]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    sources = {str(path.relative_to(copy)) for path in (copy / "tests").rglob("*") if path.is_file()}
    sources -= {name for name in sources if name.startswith("tests/.hypothesis/")}
    assert sources - names == set(), "tests left out of the sdist"
    read_by_tests = {".ci/run", "app.py", "mkdocs.yml", "docs/hooks/cli_reference.py", "examples/_common.py",
                     "benchmarks/quality_default.py", "weights/README.md"}
    assert read_by_tests - names == set(), "files the tests read are left out of the sdist"
    assert not [name for name in names if ".hypothesis" in name or name.endswith(".pyc")]
