"""``stylizing_vit_aug.kornia``, the name the docs use (``sva.kornia.RandomStylize``), is the kornia
front-end's module itself (:mod:`stylizing_vit_aug.transforms.kornia`), not a copy: importing it
imports that module (and kornia) and puts it in this name's place."""

import sys
from typing import TYPE_CHECKING

from .transforms import kornia as _front_end

if TYPE_CHECKING:  # a type checker cannot follow the swap below: the front-end's __all__, named here
    from .transforms.kornia import RandomStylize as RandomStylize

sys.modules[__name__] = _front_end
