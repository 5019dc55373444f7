"""StyleBank: style images, their cached style streams, domains, sampling and files.

A style stream (:class:`~stylizing_vit_aug.model.StyleStream`) depends on the style image alone,
so a bank encodes each style once and every later stylisation skips the style half of the
encoder. The bank keeps

* ``images`` — the style images at the model's size, uint8 ``[N, C, S, S]`` on the CPU
  (``C*S*S`` bytes each: 150,528 bytes at 224 px RGB);
* the style streams ``[L, N, T, D]``, encoded lazily in chunks (a progress bar shows long
  encodes) on a chosen ``device`` in a chosen ``stream_dtype``;
* optional ``domains`` (one label per style) for domain-balanced and "other domain" sampling.

Memory of the cached stream per style: ``depth * tokens * dim * element_size`` bytes, with
``tokens = (224/16)**2 + 1 = 197`` for the presets:

======  =====  ====  ============  ============  ===========================
preset  depth  dim   float32       float16/bf16  10,000 styles (float16)
======  =====  ====  ============  ============  ===========================
tiny    12     192   1,815,552 B   907,776 B     9.1 GB
small   12     384   3,631,104 B   1,815,552 B   18.2 GB
base    12     768   7,262,208 B   3,631,104 B   36.3 GB
large   24     1024  19,365,888 B  9,682,944 B   96.8 GB
======  =====  ====  ============  ============  ===========================

(:func:`stream_bytes_per_style` computes it for any architecture.) Pass
``stream_dtype=torch.float16`` to halve it; styles that are never sampled are never encoded.

Files are safetensors (``images``, optionally ``streams``) with metadata: the fingerprint,
source and revision of the stylizer that encoded the streams, its config, the domains, the
stream dtype, each style's source file and the images' digest. :meth:`StyleBank.load` with a
different stylizer fails naming both checkpoints (``on_mismatch="error"``, the default) or
re-encodes with one warning (``"reencode"``, what the command line does). A truncated file,
or one whose header, metadata or tensor shapes are damaged, or whose saved streams hold NaN or
Inf, is a :class:`BankFileError` that names it. The format records no checksum of the tensor
data (safetensors has none), so bytes flipped inside the images or streams load as they are:
verify copies with your storage's or transfer tool's checksums (``sha256sum``), and rebuild a
bank whose file you doubt. Why no checksum here: it would be read on every load, in every
DataLoader worker, over gigabytes of streams for large banks.

Provenance of the styles: a bank built from files records each style's source
(``bank.sources[i]``: a :class:`StyleFile`, its path relative to the folder and the first 16 hex
digits of the file's SHA-256; None for an image given in memory; ``bank.sources`` is None for a
bank saved before sources were recorded), and ``bank.images_digest`` names its content (a SHA-256
of the images, also recorded in the file), so that a record naming a style by its index can be
traced to a file and a bank. Byte-identical style files both enter the bank, with a warning.

Unreadable style files: :meth:`StyleBank.from_folder` skips them by default (a warning with the
path and reason; ``bank.skipped`` lists them), so one bad file never sinks a bank;
``on_error="stop"`` raises :class:`~stylizing_vit_aug.images.ImageReadError` instead.
"""

from ..image_ops import random_crop_resize
from ..images import IMAGE_EXTENSIONS
from .building import ON_ERROR
from .bundled import HISTOLOGY_ASSETS, bundled_bank
from .sampling import STRATEGIES, strategy_name
from .sources import StyleFile
from .storage import FILE_FORMAT, BankFileError, BankMismatch, check_same_stylizer
from .streams import stream_bytes_per_style
from .style_bank import StyleBank

__all__ = [
    "FILE_FORMAT",
    "HISTOLOGY_ASSETS",
    "IMAGE_EXTENSIONS",
    "ON_ERROR",
    "STRATEGIES",
    "BankFileError",
    "BankMismatch",
    "check_same_stylizer",
    "StyleBank",
    "StyleFile",
    "bundled_bank",
    "random_crop_resize",
    "strategy_name",
    "stream_bytes_per_style",
]
