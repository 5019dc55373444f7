"""The model card (README.md) of a checkpoint folder: the Hub's ``ModelCardData`` front matter and
a body saying what the network is, its statistics, how to load it and how it was trained."""

from __future__ import annotations

import json
from typing import Any

from ..model import PRESETS, ModelConfig
from .bundled import DEFAULT_ALIAS

LIBRARY_NAME = "stylizing-vit-aug"
HUB_REPO = "hub_repo"  # in a trainer's record: its --push-to-hub repo, or None
REPO_PLACEHOLDER = "<user>/<repo>"  # the Hub form's repo id where the run named none
PAPER = (
    "Doerrich et al., \"Stylizing ViT: Anatomy-Preserving Instance Style Transfer for Domain "
    "Generalization\", ISBI 2026"
)


def preset_name(config: ModelConfig) -> str | None:
    for name, preset in PRESETS.items():
        if config == ModelConfig(**preset):
            return name
    return None


def _front_matter(base_model: str | None, preset: str | None) -> str:
    """The Hub's own ``ModelCardData`` YAML, so the Hub indexes the card like any other (a preset
    is a tag too, so its checkpoints can be found by it)."""
    from huggingface_hub import ModelCardData

    card_data = ModelCardData(
        license="apache-2.0",
        library_name=LIBRARY_NAME,
        pipeline_tag="image-to-image",
        tags=["style-transfer", "data-augmentation", "medical-imaging", "stylizing-vit"]
        + ([f"stylizing-vit-{preset}"] if preset else []),
        base_model=base_model,
    )
    return card_data.to_yaml()


def _training_lines(provenance: dict[str, Any]) -> list[str]:
    """Where the weights came from, then the recorded training settings."""
    origin = [f"- Source: `{provenance['source']}`"] if provenance.get("source") else []
    if provenance.get("revision"):
        origin.append(f"- Revision: `{provenance['revision']}`")
    if provenance.get("base_model"):
        origin.append(f"- Fine-tuned from: `{provenance['base_model']}`")
    training = dict(provenance.get("training") or {})
    training.pop(HUB_REPO, None)  # told under How to load
    data = _data_line(training)  # takes the keys it tells
    training_lines = [f"- {k}: `{json.dumps(v)}`" for k, v in training.items()] or ["Not recorded."]
    return origin + ([""] if origin else []) + data + training_lines


def _data_line(training: dict[str, Any]) -> list[str]:
    """What the model was trained on, in words: the image count and the images of each domain
    (a trainer's record; the keys told are taken out of ``training``). Empty where not recorded."""
    segments = training.get("data_segments")
    if isinstance(segments, list) and segments and all(isinstance(s, dict) for s in segments):
        training.pop("data_segments")  # the data changed on a resume: each stretch of steps in words
        ends = [s.get("from_step") for s in segments[1:]] + [training.get("steps")]
        stretches = [f"steps {s.get('from_step')}-{end}: {_data_words(s)}" for s, end in zip(segments, ends)]
        return [f"- Trained on data that changed on a resume: {'; '.join(stretches)}"]
    if not isinstance(training.get("domains"), dict) or "images" not in training:
        return []
    record = {key: training.pop(key) for key in ("images", "domains", "skipped_files") if key in training}
    return [f"- Trained on {_data_words(record)}"]


def _data_words(record: dict[str, Any]) -> str:
    """``record``'s images in words (its folder where named, the images of each domain where known)."""
    folder = f"`{record['data']}` (" if record.get("data") else ""
    domains, skipped = record.get("domains"), record.get("skipped_files") or 0
    listing = ", ".join(f"`{name}` ({count})" for name, count in domains.items()) if isinstance(domains, dict) else ""
    words = f"{record.get('images')} image(s)" + (f" of {len(domains)} domain(s): {listing}" if listing else "")
    left_out = f"; {skipped} file(s) left out (unreadable or smaller than the crop)" if skipped else ""
    return f"{folder}{words}{left_out}{')' if folder else ''}"


def _settings_line(settings: dict[str, Any] | None) -> str:
    """What ``load_stylizer`` applies unless told otherwise: the saving Stylizer's settings."""
    if not settings:
        return "It stylises with the library's default settings."
    given = ", ".join(f"`{k}={v!r}`" for k, v in settings.items())
    return f"It stylises with {given} (saved with it); pass another value to `load_stylizer` to change one."


def _load_code(load_hint: str, training: dict[str, Any] | None, pushed: bool, revision: str | None = None) -> str:
    """The card's loading line(s). The copy :func:`~stylizing_vit_aug.hub.push_to_hub` uploads
    (``pushed``) and the bundled default: the one source they load by. Any other folder may be
    uploaded as it is (``hf upload``), so its card is read on the Hub as well as beside the files:
    the Hub form (a trainer's ``--push-to-hub`` repo, :data:`HUB_REPO` in its record, else a
    placeholder to replace) and the folder's. ``revision``: the branch a pushed copy went to, which
    its load line names (without it, the line would load main)."""
    if pushed or load_hint == DEFAULT_ALIAS:
        pinned = f", revision={revision!r}" if pushed and revision else ""
        return f"stylizer = sva.load_stylizer({load_hint!r}{pinned})"
    named = (training or {}).get(HUB_REPO)
    repo = named or REPO_PLACEHOLDER
    replace = "" if named else "  # your repo's id"
    return "\n".join([
        f"# from the Hugging Face Hub, once this folder is uploaded there (`hf upload {repo} {load_hint}`)",
        f"stylizer = sva.load_stylizer({repo!r}){replace}",
        f"# or from a folder of these files ({load_hint} is where they were saved)",
        f"stylizer = sva.load_stylizer({load_hint!r})",
    ])


def _metric_lines(metrics: dict[str, Any] | None) -> list[str]:
    if not metrics:
        return ["None recorded."]
    return ["| metric | value |", "|---|---|"] + [f"| {k} | {json.dumps(v)} |" for k, v in metrics.items()]


def model_card(
    config: dict[str, Any], load_hint: str, parameters: int, pushed: bool = False, revision: str | None = None
) -> str:
    """The README.md of a checkpoint folder, from its config.json (as read back from JSON);
    ``pushed``: the copy uploaded to ``load_hint``, a Hub repo, at ``revision`` (see :func:`_load_code`)."""
    arch = config["architecture"]
    provenance = config["provenance"]
    preset = preset_name(ModelConfig(**arch))
    title = f"Stylizing ViT ({preset})" if preset else "Stylizing ViT"
    arch_rows = "\n".join(f"| {k} | {v} |" for k, v in arch.items())
    stats = "\n".join(
        f"| {i} | {m:g} | {s:g} |" for i, (m, s) in enumerate(zip(config["mean"], config["std"]))
    )
    body = f"""
# {title}

Anatomy-preserving style transfer for medical-image data augmentation, from {PAPER}.
Saved with {LIBRARY_NAME} {config['library_version']}.

## Architecture

| field | value |
|---|---|
{arch_rows}

{parameters:,} parameters.

## Normalisation

Inputs are 0–1 pixels normalised per channel with the mean and std below (as torchvision's
`Normalize` does); outputs are mapped back the same way.

| channel | mean | std |
|---|---|---|
{stats}

## How to load

```python
import stylizing_vit_aug as sva

{_load_code(load_hint, provenance.get("training"), pushed, revision)}
stylized = stylizer(images, styles)
```

{_settings_line(config.get("stylizer"))}

## Training

{chr(10).join(_training_lines(provenance))}

## Metrics

{chr(10).join(_metric_lines(provenance.get("metrics")))}

## License

Apache-2.0. Please cite {PAPER}.
"""
    return f"---\n{_front_matter(provenance.get('base_model'), preset)}\n---\n{body}"
