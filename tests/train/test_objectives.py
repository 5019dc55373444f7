"""Objectives are pluggable: one protocol, one table. A third objective, defined here and nowhere
in the package, trains through the command line with no trainer edit, and the trainer's code
never names an objective or its weights."""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import stylizing_vit_aug as sva
from helpers import ARCH, make_small_model, options, parse, read_train_log
from stylizing_vit_aug.commands.train import add_arguments
from stylizing_vit_aug.commands.train import run as run_train
from stylizing_vit_aug.train import objectives, trainer, training_state
from stylizing_vit_aug.train.data import TrainBatch
from stylizing_vit_aug.train.losses import (
    LossOutput,
    Preview,
    StainSupervisedObjective,
    StylizingObjective,
    TermWeights,
)
from stylizing_vit_aug.train.objectives import OBJECTIVES, Objective, ObjectiveSpec, register_objective
from stylizing_vit_aug.train.perceptual import build_perceptual


@dataclass(frozen=True)
class PixelWeights(TermWeights):
    pixel: float = 1.0
    real: float = 0.5


class PixelObjective(torch.nn.Module):
    """Reconstruct the content; stylised by a real style of another domain, stay near it."""

    Weights = PixelWeights
    terms = PixelWeights.terms()
    needs_real_styles = True

    def __init__(self, model: sva.StylizingViT) -> None:
        super().__init__()
        self.model = model
        self.weights = PixelWeights()
        self.seen_real: list[bool] = []

    def describe(self) -> str:
        return f"pixel test objective, weights {self.weights.as_dict()}"

    def forward(self, model_batch: TrainBatch) -> LossOutput:
        terms, images = self.compute_terms(model_batch)
        return LossOutput(self.weights.weighted_sum(terms), terms, images)

    def compute_terms(self, model_batch: TrainBatch) -> tuple[dict[str, torch.Tensor], tuple[torch.Tensor, ...]]:
        content, real, rows = model_batch.content, model_batch.real, model_batch.real_rows
        assert real is not None and rows is not None  # the trainer asked the data for them
        self.seen_real.append(rows.tolist() == list(range(content.shape[0])))  # two domains: one for every row
        recon = self.model.reconstruct(content)
        stylized = self.model.stylize(content, self.model.encode_style(real))
        terms = {
            "pixel": F.l1_loss(recon.float(), content.float()),
            "real": F.l1_loss(stylized.float(), content.float()),
        }
        return terms, (recon, stylized)

    def preview(self, batch: TrainBatch, out: LossOutput) -> Preview:
        return Preview(batch.style_index, out.images[0], out.images[1])


@pytest.fixture
def pixel(monkeypatch) -> list[PixelObjective]:
    built: list[PixelObjective] = []

    def build(model, mean, std, config):
        built.append(PixelObjective(model))
        return built[-1]

    monkeypatch.setitem(OBJECTIVES, "pixel", ObjectiveSpec(build, PixelWeights, "reconstruction (a test objective)"))
    return built


def test_a_third_objective_trains_through_the_command_line_with_no_trainer_edit(data, tmp_path, pixel):
    run = tmp_path / "pixel"
    args = ["--init", "tiny", *ARCH, *options(epochs="1"), "--objective", "pixel", "--pairing", "other-domain"]
    assert run_train(parse(str(data), "-o", str(run), *args)) == 0
    log = read_train_log(run)
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert all(set(r) >= {"loss", "pixel", "real", "grad_norm", "lr"} for r in log)
    for record in log:
        assert record["loss"] == pytest.approx(record["pixel"] + 0.5 * record["real"], rel=1e-6)
    assert len(pixel[0].seen_real) >= 4 and all(pixel[0].seen_real)  # a real style of another domain for each row
    validation = json.loads((run / "validation.jsonl").read_text().splitlines()[-1])
    assert {"val_pixel", "val_real", "val_loss", "ssim"} <= set(validation)
    state = training_state.read_training_checkpoint(run / "checkpoints" / "last.safetensors")
    assert state["trainer"]["objective"].startswith("pixel test objective")
    sva.load_stylizer(str(run / "final"), device="cpu")


def test_the_table_is_the_command_lines_choices(pixel):
    import argparse

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    text = " ".join(parser.format_help().split())
    assert "{paper,stain,pixel}" in text and "reconstruction (a test objective), terms pixel, real" in text
    with pytest.raises(ValueError, match="already registered"):
        register_objective("stain", OBJECTIVES["stain"])


def test_the_built_in_objectives_follow_the_protocol():
    model = make_small_model()
    perceptual = build_perceptual("random", mean=(0.5,) * 3, std=(0.25,) * 3, width=0.125)
    stain = StainSupervisedObjective(model, (0.7, 0.55, 0.7), (0.2, 0.2, 0.2))
    paper = StylizingObjective(model, perceptual)
    for objective in (stain, paper, PixelObjective(model)):
        assert isinstance(objective, Objective)
        assert objective.terms == type(objective.weights).terms()
    assert not paper.needs_real_styles and not stain.needs_real_styles
    content = torch.randn(4, 3, 32, 32) * 0.5
    batch = TrainBatch(content, torch.tensor([1, 0, 3, 2]), domains=torch.tensor([0, 0, 1, 1]),
                       generator=torch.Generator().manual_seed(0))
    for objective in (stain, paper):
        with torch.no_grad():
            out = objective(batch)
            preview = objective.preview(batch, out)
        assert set(out.terms) == set(objective.terms)
        assert preview.reconstruction.shape == preview.stylized.shape == content.shape
        assert preview.style_index.shape == (4,)


def test_the_trainer_never_names_an_objective():
    tree = ast.parse(Path(trainer.__file__).read_text(encoding="utf-8"))
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    named = {"StylizingObjective", "StainSupervisedObjective", "stain_weights", "loss_weights", "objective"} & names
    assert named <= {"objective"}, named  # self.objective (the module) only
    assert not {"stain", "paper"} & strings
    type_checks = [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance"
    ]
    assert not [node for node in type_checks if "Objective" in ast.unparse(node)]
    assert objectives.OBJECTIVES is OBJECTIVES


@dataclass(frozen=True)
class EdgeWeights(PixelWeights):
    edges: float = 0.25  # a new loss term, step 1 of 2: its weight field


class EdgeObjective(PixelObjective):
    """PixelObjective plus one term (step 2 of 2: compute it); nothing else is edited."""

    terms = EdgeWeights.terms()

    def __init__(self, model: sva.StylizingViT) -> None:
        super().__init__(model)
        self.weights = EdgeWeights()

    def compute_terms(self, model_batch: TrainBatch) -> tuple[dict[str, torch.Tensor], tuple[torch.Tensor, ...]]:
        terms, images = super().compute_terms(model_batch)
        recon, content = images[0].float(), model_batch.content.float()
        return {**terms, "edges": F.l1_loss(recon.diff(dim=-1), content.diff(dim=-1))}, images


def test_a_loss_term_is_a_weight_field_and_its_computation(data, tmp_path, monkeypatch):
    """CONTRIBUTING's 'a loss term': the field gives the term's name, default, parsing and text;
    the trainer's log, validation and checkpoint take it from the objective with no other edit."""
    assert EdgeWeights.terms() == ("pixel", "real", "edges")
    assert EdgeWeights.parse("edges=2").edges == 2 and EdgeWeights.parse("1,0.5,3").edges == 3
    assert EdgeWeights().as_text() == "pixel=1,real=0.5,edges=0.25"
    with pytest.raises(ValueError, match="unknown loss term 'edge'"):
        EdgeWeights.parse("edge=1")
    spec = ObjectiveSpec(lambda model, *_: EdgeObjective(model), EdgeWeights, "edges")
    monkeypatch.setitem(OBJECTIVES, "edges", spec)
    run = tmp_path / "edges"
    args = ["--init", "tiny", *ARCH, *options(epochs="1"), "--objective", "edges", "--pairing", "other-domain"]
    assert run_train(parse(str(data), "-o", str(run), *args)) == 0
    for record in read_train_log(run):
        weighted = record["pixel"] + 0.5 * record["real"] + 0.25 * record["edges"]
        assert record["loss"] == pytest.approx(weighted, rel=1e-6)
    validation = json.loads((run / "validation.jsonl").read_text().splitlines()[-1])
    assert "val_edges" in validation


def test_every_built_in_term_is_on_the_command_line_with_its_default():
    """The built-in weights' fields are the command line's terms: each parses by name and the
    help shows every default, so a new field needs no edit of the command."""
    import argparse

    from stylizing_vit_aug.train.losses import LossWeights, StainWeights

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    text = " ".join(parser.format_help().split())
    for kind, flag in ((StainWeights, "--stain-weights"), (LossWeights, "--loss-weights")):
        assert f"(default: {kind().as_text(', ')})" in text, flag
        for term in kind.terms():
            parsed = parser.parse_args(["data", flag, f"{term}=0.125"])
            assert getattr(parsed, flag[2:].replace("-", "_")).as_dict()[term] == 0.125
