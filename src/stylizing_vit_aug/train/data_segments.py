"""Which data each stretch of a run trained on. A resume may read other data than the checkpoint's
run did (warned, see :func:`.doubts.say_data_doubts`); the run's records and its export's card then
name each stretch's data instead of claiming the last folder for all the steps.

A segment is ``{"from_step", "data", "images", "domains", "skipped_files"}``; it runs to the next
segment's ``from_step`` (the last one to the run's step). The checkpoint keeps them all, the last one
as read then, and a resume on the same data continues that last one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .data import ImageFolderDataset
    from .trainer import Trainer

__all__ = ["data_changed", "data_segments", "earlier_segments", "recorded_segments"]


def data_changed(resume_state: dict[str, Any] | None, dataset: ImageFolderDataset) -> bool:
    """Whether ``dataset`` holds other images than the resumed checkpoint's run read (a moved folder
    with the same images is the same data), by what the checkpoint records (its files' sizes from 2026-12-03)."""
    saved = (resume_state or {}).get("trainer", {}).get("data")
    return bool(saved) and any(value != dataset.contents.get(key) for key, value in saved.items())


def earlier_segments(
    resume_state: dict[str, Any] | None, dataset: ImageFolderDataset
) -> tuple[list[dict[str, Any]], int]:
    """The segments of the resumed run that this invocation does not continue, and the step from which
    its data trains: all of them and the resumed step where the data changed, else all but the last
    and the last one's ``from_step`` (the same data, continued)."""
    if resume_state is None:
        return [], 0
    trainer = resume_state["trainer"]
    saved = trainer.get("data_segments")
    if not saved:  # a checkpoint from before segments were kept: its one stretch, told by its record
        data = trainer.get("data") or {}
        saved = [{"from_step": 0, "data": trainer.get("config", {}).get("data"), "images": data.get("images")}]
    if data_changed(resume_state, dataset):
        return list(saved), int(trainer["step"])
    return list(saved[:-1]), int(saved[-1]["from_step"])


def data_segments(trainer: Trainer) -> list[dict[str, Any]]:
    """Every segment of the run so far, the last one this invocation's data as read until now."""
    summary = trainer.dataset.summary()
    current = {
        "from_step": trainer.data_from_step,
        "data": str(trainer.config.data),
        "images": summary["images"],
        "domains": summary["domains"],
        "skipped_files": len(summary["skipped"]),
    }
    return [*trainer.earlier_data, current]


def recorded_segments(segments: list[dict[str, Any]], step: int, *, trained: bool) -> list[dict[str, Any]] | None:
    """Of a run's ``segments`` (:func:`data_segments`) at ``step``, those a record lists, or None where one
    data trained (or will train) every step: the record then says it as it always did. ``trained``: leave
    out a last segment that trained no step (an export; ``train_config.json`` lists the data this
    invocation is about to train on)."""
    if trained and len(segments) > 1 and segments[-1]["from_step"] >= step:
        segments = segments[:-1]
    return segments if len(segments) > 1 else None
