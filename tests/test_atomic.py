"""The one atomic writer: a failing write leaves the previous file and no temporary behind."""

from __future__ import annotations

import pytest

from stylizing_vit_aug._atomic import write_atomically


def test_success_replaces_and_failure_keeps_the_previous_file(tmp_path):
    target = tmp_path / "sub" / "file.txt"
    write_atomically(target, lambda temporary: temporary.write_text("first"))
    assert target.read_text() == "first"

    def crash(temporary):
        temporary.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, crash)
    assert target.read_text() == "first"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]
    write_atomically(target, lambda temporary: temporary.write_text("second"), prefix=".partial-")
    assert target.read_text() == "second" and [p.name for p in target.parent.iterdir()] == ["file.txt"]
