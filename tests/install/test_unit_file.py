"""systemd/tensorchicken.service: systemd's own verifier, its security score, and the settings
the appliance relies on.

``systemd-analyze verify`` refuses a unit whose ExecStart binary does not exist, and warns (but
exits 0) on a line it cannot parse. So the test builds a small root: the host's stock units (for
multi-user.target and friends), the unit where the installer puts it, and an executable stub at
the ExecStart path; it runs ``systemd-analyze --root=ROOT verify`` and fails on any warning.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from edge.secrets import KNOWN

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "systemd" / "tensorchicken.service"
FIRSTBOOT = REPO / "scripts" / "firstboot"
UNIT_DIR = Path("etc/systemd/system")
ANALYZE = shutil.which("systemd-analyze")

needs_analyze = pytest.mark.skipif(
    ANALYZE is None, reason="systemd-analyze is missing (Debian package 'systemd')"
)


def settings(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit (section-blind; the keys used here are unique)."""
    out: dict[str, list[str]] = defaultdict(list)
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out[key].append(value)
    return out


def make_root(tmp_path: Path, unit_text: str, name: str = UNIT.name) -> Path:
    root = tmp_path / "root"
    stock = next(p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                 if p.is_dir())
    shutil.copytree(stock, root / "usr/lib/systemd/system", symlinks=True)
    (root / UNIT_DIR).mkdir(parents=True)
    (root / UNIT_DIR / name).write_text(unit_text)
    for binary in {v.split()[0].lstrip("-") for k in ("ExecStart", "ExecStartPre", "ExecReload")
                   for v in settings(unit_text).get(k, [])}:
        stub = root / binary.lstrip("/")
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return root


def analyze(root: Path, *args: str, name: str = UNIT.name) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, f"--root={root}", *args, f"/{UNIT_DIR / name}"],
        capture_output=True, text=True, timeout=60, check=False,
    )


@needs_analyze
@pytest.mark.parametrize("unit", [UNIT, FIRSTBOOT / "tensorchicken-firstboot.service"],
                         ids=lambda p: p.name)
def test_systemd_analyze_verify_passes_without_warnings(tmp_path: Path, unit: Path) -> None:
    result = analyze(make_root(tmp_path, unit.read_text(), unit.name), "verify", name=unit.name)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


@needs_analyze
def test_verify_as_run_here_catches_a_bad_line(tmp_path: Path) -> None:
    # The check above would be worthless if a typo passed: make sure one does not.
    broken = UNIT.read_text().replace("DevicePolicy=closed", "DevicePolicy=closd")
    result = analyze(make_root(tmp_path, broken), "verify")
    assert "device policy" in result.stderr


@needs_analyze
def test_security_exposure_is_low(tmp_path: Path) -> None:
    result = analyze(make_root(tmp_path, UNIT.read_text()), "security", "--offline=true")
    match = re.search(r"Overall exposure level for tensorchicken.service: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 2.5


def test_the_unit_has_what_the_appliance_relies_on() -> None:
    s = settings(UNIT.read_text())
    assert s["Type"] == ["notify"]
    assert s["NotifyAccess"] == ["main"]
    assert float(s["WatchdogSec"][0]) > 0
    assert s["Restart"] == ["on-failure"]
    # The configuration is checked in ExecStartPre (its problems in the journal), a failure
    # ignored ("-"), because RestartPreventExitStatus= only looks at the main process, which
    # refuses the same file with exit 2.
    assert s["ExecStartPre"] == [
        "-/opt/tensorchicken/venv/bin/tensorchicken validate-config /etc/tensorchicken/config.yaml"
    ]
    assert s["RestartPreventExitStatus"] == ["2"]
    assert s["ExecStart"][0].endswith("run --config /etc/tensorchicken/config.yaml")
    assert s["StateDirectory"] == ["tensorchicken"]
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"]
    assert s["DevicePolicy"] == ["closed"]
    assert "char-gpiochip rw" in s["DeviceAllow"]
    assert "char-video4linux rw" in s["DeviceAllow"]
    assert "char-dma_heap rw" in s["DeviceAllow"]
    assert s["SupplementaryGroups"] == ["gpio video"]
    # Every secret the app can read is offered as a credential, and nothing else.
    assert sorted(s["LoadCredential"]) == sorted(KNOWN)


def test_cloud_init_user_data_installs_the_shipped_first_boot_files() -> None:
    text = (FIRSTBOOT / "user-data").read_text()
    assert text.startswith("#cloud-config\n")
    runcmd = yaml.safe_load(text)["runcmd"]
    copied = [cmd[3] for cmd in runcmd if cmd[0] == "install"]
    assert copied, runcmd
    for path in copied:  # /boot/firmware/tensorchicken/NAME ← scripts/firstboot/NAME
        assert path.startswith("/boot/firmware/tensorchicken/")
        assert (FIRSTBOOT / Path(path).name).is_file(), path
    enable = ["systemctl", "enable", "--now", "--no-block", "tensorchicken-firstboot.service"]
    assert enable in runcmd
