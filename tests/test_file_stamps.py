"""One stamp of a file, or None where it cannot be looked at: the app's listing and ``stylize``'s record of a staged
replacement both take it from :func:`~stylizing_vit_aug._files.stamp_or_none`, so they agree on a missing file."""

from __future__ import annotations

from stylizing_vit_aug._files import file_stamp, stamp_or_none
from stylizing_vit_aug.app_files import stamps


def test_a_file_that_cannot_be_looked_at_has_no_stamp_and_the_apps_listing_says_so(tmp_path):
    here, gone, under_a_file = tmp_path / "a.png", tmp_path / "gone.png", tmp_path / "a.png" / "b.png"
    here.write_bytes(b"pixels")
    assert stamp_or_none(here) == file_stamp(here)
    assert stamp_or_none(gone) is None and stamp_or_none(under_a_file) is None  # ENOENT, ENOTDIR
    listed = {path: stamp for path, *stamp in stamps([here, gone])}
    assert listed == {str(here): list(file_stamp(here)), str(gone): [-1, -1, -1]}  # -1s: reading it says why
