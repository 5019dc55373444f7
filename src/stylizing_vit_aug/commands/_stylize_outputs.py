"""The refusals of a ``stylize`` run's outputs that need only their names, before the model loads: a name no file
system takes, an output folder or output inside the input or style folder, ``-o`` named as an image."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .._files import inside_of, same_file, within
from ..images import IMAGE_EXTENSIONS
from .common import CLIError

if TYPE_CHECKING:
    from ._stylize_plan import StylizePlan

__all__ = ["refuse_an_image_name_as_the_output_folder", "refuse_an_output_folder_inside",
           "refuse_names_no_file_system_takes", "refuse_outputs_in_the_input"]

NAME_MAX = 255  # bytes of one file name: ext4, XFS, Btrfs, APFS, NTFS (255 characters there), most others


def refuse_names_no_file_system_takes(plan: StylizePlan, outputs: list[Path]) -> None:
    """An output whose name is over :data:`NAME_MAX` bytes (its input's name near the limit, and the output's
    suffix, ``.s0`` or a longer extension, added), or that is also a folder other outputs go into (``x.jpg`` ->
    ``x.png`` beside a folder ``x.png/``): each would fail when written, after the model loaded."""
    folders = {folder for out in outputs for folder in Path(plan.key(out)).parents}
    for number, out in enumerate(outputs):
        key, path = plan.key(out), plan.input_key(plan.inputs[number // plan.styles_per_image])
        if long := next((name for name in Path(key).parts if len(os.fsencode(name)) > NAME_MAX), None):
            raise CLIError(
                f"the output of {path} would be named {long[:32]!r}..., {len(os.fsencode(long))} bytes, over the "
                f"{NAME_MAX} bytes a file name may have; shorten the input's name"
                + (" or pass --ext keep" if plan.ext != "keep" else "")
            )
        if Path(key) in folders:
            raise CLIError(
                f"the output of {path} would be {key}, which is also a folder the outputs of the input folder "
                f"{Path(key)} go into: one path cannot be both; rename the input or that folder, or pass another --ext"
            )


def refuse_an_output_folder_inside(output: Path, input_folder: Path | None, styles_dir: Path | None) -> None:
    """Refuse an output folder that is the input folder (None: one input image) or the style folder, or inside
    either, by identity (a link, a bind mount, a share mounted twice): outputs would be read as inputs, or drawn as
    styles by a rerun, and an input or style named as an output would pass for it or be written over."""
    if input_folder is not None and within(output, input_folder):
        raise CLIError(
            f"the output folder {output} must not be the input folder or inside it, by any path (a link, a "
            f"bind mount, a share mounted twice); pass an -o outside {input_folder}"
        )
    if styles_dir is not None and within(output, styles_dir):
        raise CLIError(f"the output folder {output} must not be the style folder or inside it: a rerun would "
                       "draw its outputs as styles, and a style named as an output would pass for it or be written "
                       f"over (--overwrite); pass an -o outside {styles_dir}")


def refuse_outputs_in_the_input(plan: StylizePlan, outputs: list[Path]) -> None:
    """Outputs that land in the input folder or the style folder (the output folder holds it, or links into it): an
    output would overwrite an input or a style (--overwrite), an input or a style would pass for a finished output,
    or an output would be drawn as a style by the next run. Folders are compared by identity
    (:func:`~.._files.inside_of`), so a second path to one (a link, a bind mount) is caught too. One input image's
    own folder may hold its outputs: only an output that is the image is refused."""
    if plan.folder_input:
        _refuse_outputs_inside(plan, outputs, plan.root, "the input folder", "over an input, or an input taken for a "
                               "finished output")
    else:
        for number, out in enumerate(outputs):
            if same_file(out, source := plan.inputs[number // plan.styles_per_image]):
                raise CLIError(
                    f"{out} would be written over its input {source} itself; pass another -o (a new folder "
                    "beside the image is fine) or another --ext"
                )
    if plan.styles_dir is not None:  # -o inside it was refused by from_args
        _refuse_outputs_inside(plan, outputs, plan.styles_dir, "the style folder", "over a style, or a style taken "
                               "for a finished output, and the next run would draw outputs as styles")


def _refuse_outputs_inside(plan: StylizePlan, outputs: list[Path], folder: Path, what: str, why: str) -> None:
    """Refuse an output that lands inside ``folder`` (``why`` it is wrong): under a second path to the output
    folder's place in ``folder`` (the output folder holds ``folder``, by identity: a bind mount), or in a folder that
    is, links resolved, ``folder`` or inside it (a link among the outputs' folders let a style be written over: a
    review). Each folder the outputs go into is looked at once."""
    real = folder.resolve()
    holder = next((parent for parent in real.parents if same_file(parent, plan.output)), None)
    place = real.relative_to(holder).parts if holder is not None else None
    inside, looked = inside_of(folder), set()  # the folders the outputs go into, each resolved once
    for out in outputs:
        lexically = place is not None and out.relative_to(plan.output).parts[: len(place)] == place
        if lexically or (inside is not None and out.parent not in looked and inside(out.parent.resolve())):
            raise CLIError(
                f"{out} would be written inside {what} {folder} ({why}); the output folder {plan.output} holds it "
                f"or links into it: pass an -o outside {folder}"
            )
        looked.add(out.parent)


def refuse_an_image_name_as_the_output_folder(output: Path, first: Path) -> None:
    """``-o result.png`` for one input image would make a folder named result.png holding the
    result under the input's name: -o is a folder. One that exists already is taken as it is."""
    if output.exists() or output.suffix.lower() not in IMAGE_EXTENSIONS:
        return
    raise CLIError(
        f"-o {output} looks like an image file name, but -o is the output folder: each result is written "
        f"into it under its input's name ({output / first.name} here). Pass a folder, e.g. -o "
        f"{output.with_suffix('')}; to use a folder of this very name, create it first (mkdir)"
    )
