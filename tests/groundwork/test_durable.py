"""The one durable write: old or new content, never half, and both the file and its folder
reach the disk (checked by watching which paths the real os.fsync is called on)."""

from __future__ import annotations

from pathlib import Path

import pytest

from groundwork.durable import replace_durably, write_durably


def test_a_write_reaches_the_disk_file_then_folder(tmp_path: Path, fsynced: list[str]) -> None:
    target = tmp_path / "models.yaml"
    target.write_text("old")
    write_durably(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p for p in tmp_path.iterdir()] == [target]  # no temporary file left
    assert fsynced[-1] == str(tmp_path)  # the folder last: the rename is durable
    assert len(fsynced) == 2


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_durably(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_named_temporary_is_used_and_renamed(tmp_path: Path) -> None:
    target, part = tmp_path / "snap.jpg", tmp_path / "snap.jpg.part"
    write_durably(target, b"jpeg", temp=part)
    assert target.read_bytes() == b"jpeg" and not part.exists()
    assert target.stat().st_mode & 0o777 == 0o600


def test_replacing_a_folder_syncs_it_and_its_parent(tmp_path: Path, fsynced: list[str]) -> None:
    made = tmp_path / ".pkg.tmp"
    made.mkdir()
    (made / "head.npz").write_bytes(b"x")
    replace_durably(made, tmp_path / "pkg")
    assert (tmp_path / "pkg" / "head.npz").read_bytes() == b"x"
    assert fsynced == [str(made), str(tmp_path)]
