"""The page's style-folder listing is the library's (:func:`~stylizing_vit_aug.images.find_images`):
each image once, at its own path, only bounded (a cap on images and folders, no link out of the
allowed roots)."""

from __future__ import annotations

import stylizing_vit_aug.app_files as page
from helpers import write_images
from stylizing_vit_aug.images import find_images


def test_the_page_lists_a_folder_as_the_library_does_each_file_once_at_its_own_path(tmp_path):
    """A symlinked file beside its target, and a linked folder that sorts before the folder it
    links to, are listed as find_images lists them: each image once, at its own path (its domain)."""
    root = tmp_path / "styles"
    target = root / "b_scanner"
    write_images(target, 2)
    (target / "again.png").symlink_to(target / "img00.png")
    (root / "a_link").symlink_to(target, target_is_directory=True)
    listed, stopped = page.folder_images(root, [tmp_path])
    assert listed == find_images(root) and not stopped
    assert [p.relative_to(root).as_posix() for p in listed] == ["b_scanner/img00.png", "b_scanner/img01.png"]


def test_a_link_out_of_the_allowed_roots_is_not_listed(tmp_path):
    """A linked folder or file whose target lies outside the allowed roots is left out, however
    the listing reaches it."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    inside = write_images(allowed / "styles", 1)
    write_images(outside, 2)
    (allowed / "styles" / "out").symlink_to(outside, target_is_directory=True)
    (allowed / "styles" / "one.png").symlink_to(outside / "img01.png")
    assert page.folder_images(allowed / "styles", [allowed]) == (inside, False)
    assert page.folder_images(allowed / "styles") == (find_images(allowed / "styles"), False)  # no roots: all


def test_the_bounds_still_stop_the_listing_and_say_so(tmp_path, monkeypatch):
    """At most the image cap from at most the folder cap, and whether a cap stopped it."""
    root = tmp_path / "styles"
    for name in "abc":
        write_images(root / name, 2)
    everything = find_images(root)
    assert page.folder_images(root, limit=6) == (everything, False)
    assert page.folder_images(root, limit=3) == (everything[:3], True)
    monkeypatch.setattr(page, "MAX_FOLDER_WALK", 2)  # root and a: b's and c's images are not reached
    assert page.folder_images(root) == (everything[:2], True)


def test_a_looping_file_link_is_listed_not_a_crash(tmp_path):
    """``x.png -> x.png`` under an allowed root: listed (reading it then fails with a message),
    where resolving it used to raise RuntimeError out of the page."""
    write_images(tmp_path / "styles", 1)
    (tmp_path / "styles" / "loop.png").symlink_to("loop.png")
    listed, stopped = page.folder_images(tmp_path / "styles", [tmp_path])
    assert listed == find_images(tmp_path / "styles") and not stopped


def test_a_file_replaced_by_one_of_the_same_size_and_time_is_read_again(tmp_path):
    """The page keeps decoded files under their stamps: a new file renamed over one (a sync tool, an
    export that writes a temporary then renames) with the same size and modification time is a change."""
    import os

    first, second = write_images(tmp_path, 2, size=(40, 40))
    os.utime(second, ns=(first.stat().st_atime_ns, first.stat().st_mtime_ns))
    assert first.stat().st_size == second.stat().st_size  # same size, same time: only the file differs
    before = page.stamps([first])
    os.replace(second, first)
    assert page.stamps([first]) != before
