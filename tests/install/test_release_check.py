"""The arm64 release check refuses, before touching anything, an aarch64 emulator that cannot
run the demo (qemu-user older than 10, where LiteRT's invoke crashes) or that a chroot cannot
reach (no F flag), and names the way to a newer one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts/release_check_arm64.sh"


def _binfmt(tmp_path: Path, version: str, flags: str = "PF") -> Path:
    """A binfmt_misc folder whose aarch64 handler is a stand-in qemu reporting ``version``, in
    the kernel's and qemu's own wording."""
    qemu = tmp_path / "qemu-aarch64"
    # Like Debian's, it refuses to run by the name binfmt_misc knows it by, outside binfmt_misc.
    qemu.write_text(
        "#!/bin/sh\n"
        'case $0 in *-binfmt-P) echo "qemu: $0 has to be run using kernel binfmt-misc subsystem"'
        " >&2; exit 1;; esac\n"
        f"echo 'qemu-aarch64 version {version} (Debian 1:{version}+dfsg)'\n"
        "echo 'Copyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers'\n")
    qemu.chmod(0o755)
    (tmp_path / "aarch64-binfmt-P").symlink_to(qemu)
    folder = tmp_path / "binfmt_misc"
    folder.mkdir()
    (folder / "qemu-aarch64").write_text(
        f"enabled\ninterpreter {tmp_path / 'aarch64-binfmt-P'}\nflags: {flags}\noffset 0\n"
        "magic 7f454c460201010000000000000000000200b700\n"
        "mask ffffffffffffff00fffffffffffffffffeffffff\n")
    return folder


def _check(folder: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # A missing mirror stops the script right after its host checks, should they pass.
    return subprocess.run(
        ["bash", str(SCRIPT), "--root", str(tmp_path / "root"), "--mirror", str(tmp_path / "none")],
        env={**os.environ, "TENSORCHICKEN_BINFMT_DIR": str(folder)},
        capture_output=True, text=True, timeout=30, check=False)


def test_qemu_7_is_refused_with_the_way_to_a_newer_one(tmp_path: Path) -> None:
    result = _check(_binfmt(tmp_path, "7.2.22"), tmp_path)
    assert result.returncode == 1
    assert "is qemu 7.2.22" in result.stderr and "SIGSEGV" in result.stderr
    assert "apt-get install -t bookworm-backports qemu-user-static" in result.stderr
    assert not (tmp_path / "root").exists()


def test_a_handler_without_flag_f_is_refused(tmp_path: Path) -> None:
    result = _check(_binfmt(tmp_path, "10.0.2", flags="P"), tmp_path)
    assert result.returncode == 1
    assert "lacks flag F (flags: P)" in result.stderr


def test_no_aarch64_handler_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "binfmt_misc"
    folder.mkdir()
    result = _check(folder, tmp_path)
    assert result.returncode == 1
    assert f"no qemu-aarch64 handler in {folder}" in result.stderr


@pytest.mark.parametrize("version", ["10.0.2", "11.2.0"])
def test_qemu_10_passes_and_is_named(tmp_path: Path, version: str) -> None:
    result = _check(_binfmt(tmp_path, version), tmp_path)
    assert f"(qemu {version})" in result.stdout
    # What stops it now is a later check (root, debootstrap or the missing mirror), not qemu.
    assert result.returncode == 1
    assert any(later in result.stderr
               for later in ("run as root", "debootstrap is missing", "none does not exist"))
