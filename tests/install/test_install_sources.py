"""What to install from: a wheel built from the checkout, a checkout or the repository; never a
PyPI package (there is none), and a clear refusal when the source is missing."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIRSTBOOT = REPO / "scripts/firstboot/tensorchicken-firstboot.sh"
# importlib mode: this folder is not on sys.path, so load the fakes by file name.
_spec = importlib.util.spec_from_file_location("fake_system", Path(__file__).with_name(
    "fake_system.py"))
assert _spec and _spec.loader
fake_system = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake_system)


def _env(tmp_path: Path) -> dict[str, str]:
    # apt, useradd, systemctl... faked, should a regression reach them; files under a scratch root.
    return {**os.environ, **fake_system.install_fakes(tmp_path / "bin", tmp_path / "fake-state"),
            "TENSORCHICKEN_INSTALL_ROOT": str(tmp_path / "root")}


def _card(tmp_path: Path) -> Path:
    """A scratch root whose boot partition holds tensorchicken/ with the installer only."""
    card = tmp_path / "root/boot/firmware/tensorchicken"
    card.mkdir(parents=True)
    shutil.copy(REPO / "scripts/install.sh", card / "install.sh")
    return card


def _firstboot(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(FIRSTBOOT)], env=_env(tmp_path), capture_output=True,
                          text=True, timeout=60, check=False)


def test_first_boot_without_a_wheel_or_source_fails_clearly_and_is_not_retried(
        tmp_path: Path) -> None:
    _card(tmp_path)
    result = _firstboot(tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr  # not retried by systemd
    assert "nothing to install" in result.stderr and "pip wheel" in result.stderr
    assert "git URL" in result.stderr
    unit = (REPO / "scripts/firstboot/tensorchicken-firstboot.service").read_text()
    assert "RestartPreventExitStatus=2" in unit
    assert not (tmp_path / "root/var/lib/tensorchicken-firstboot.done").exists()


def test_install_sh_outside_a_checkout_needs_a_source(tmp_path: Path) -> None:
    alone = tmp_path / "scripts"
    alone.mkdir()
    shutil.copy(REPO / "scripts/install.sh", alone / "install.sh")
    result = subprocess.run(["bash", str(alone / "install.sh"), "--dry-run"],
                            env=_env(tmp_path), capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 1
    assert "no --source" in result.stderr and "pip wheel" in result.stderr
    assert "PyPI" in result.stderr and "pip install" not in result.stdout


def test_no_install_source_names_a_pypi_package() -> None:
    # The README, the installer and the first-boot files name only sources that exist.
    texts = {p: p.read_text() for p in [REPO / "README.md", REPO / "scripts/install.sh",
                                         *sorted((REPO / "scripts/firstboot").iterdir())]}
    for path, text in texts.items():
        assert "tensorchicken==" not in text, path
        assert "<this repository>" not in text, path
