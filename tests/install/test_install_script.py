"""scripts/install.sh: shellcheck, and runs against a scratch root with the system faked.

The fast runs here put every file under ``TENSORCHICKEN_INSTALL_ROOT`` and fake apt, the user
database and systemctl (tests/install/fake_system.py); the package's own command line is real,
so the configuration is really validated and the models really fetched from the shared mirror
and checked against their sha256. test_install_debootstrap.py runs the real thing in a Debian
Bookworm root (slow, opt-in).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import SHARED_MODELS

REPO = Path(__file__).resolve().parents[2]
# importlib mode: this folder is not on sys.path, so load the fakes by file name.
_FAKES = Path(__file__).parent / "fake_system.py"
_spec = importlib.util.spec_from_file_location("fake_system", _FAKES)
assert _spec and _spec.loader
fake_system = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fake_system)
SCRIPT = REPO / "scripts" / "install.sh"
MIRROR = SHARED_MODELS
MUTATING = ("apt-get install", "useradd", "usermod", "groupadd", "userdel", "python3 -m venv",
            "pip install", "systemctl enable", "systemctl start", "systemctl restart",
            "systemctl daemon-reload", "chown")


class Box:
    """A scratch root and the fakes, with helpers to run the installer and read what it did."""

    def __init__(self, tmp_path: Path, source: Path) -> None:
        self.source = source
        self.root = tmp_path / "root"
        (self.root / "run/systemd/system").mkdir(parents=True)  # "systemd is running"
        self.state = tmp_path / "fake-state"
        self.env = {**os.environ, **fake_system.install_fakes(tmp_path / "bin", self.state),
                    "TENSORCHICKEN_INSTALL_ROOT": str(self.root)}
        self.env.pop("TENSORCHICKEN_MIRROR", None)  # only --mirror, as on a Pi

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        if (self.state / "calls.log").exists():
            (self.state / "calls.log").unlink()
        result = subprocess.run(
            ["bash", str(SCRIPT), "--source", str(self.source), "--mirror", str(MIRROR), *args],
            env=self.env, capture_output=True, text=True, timeout=300, check=False,
        )
        if check:
            assert result.returncode == 0, result.stdout + result.stderr
        return result

    def calls(self) -> list[str]:
        log = self.state / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def mutating_calls(self) -> list[str]:
        return [c for c in self.calls() if c.startswith(MUTATING)]

    def snapshot(self) -> dict[str, tuple[int, str]]:
        """Every file under the root: mtime and content hash."""
        return {
            str(p.relative_to(self.root)): (p.stat().st_mtime_ns, _sha(p))
            for p in sorted(self.root.rglob("*")) if p.is_file()
        }

    def file(self, path: str) -> Path:
        return self.root / path.lstrip("/")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A frozen copy of the checkout: the live one may change while the tests run."""
    copy = tmp_path_factory.mktemp("source") / "tensorchicken"
    skip = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info", "tests", "docs")
    shutil.copytree(REPO, copy, ignore=skip)
    return copy


@pytest.fixture()
def box(tmp_path: Path, source: Path) -> Box:
    return Box(tmp_path, source)


needs_shellcheck = pytest.mark.skipif(
    shutil.which("shellcheck") is None, reason="shellcheck is missing (Debian package 'shellcheck')"
)


@needs_shellcheck
@pytest.mark.parametrize("script", [SCRIPT, *sorted((REPO / "scripts/firstboot").glob("*.sh"))],
                         ids=lambda p: p.name)
def test_shellcheck(script: Path) -> None:
    result = subprocess.run(["shellcheck", "--severity=style", str(script)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_first_run_installs_everything(box: Box) -> None:
    out = box.run().stdout
    calls = box.calls()
    assert any(c.startswith("apt-get install") and "python3-picamera2" in c and
               "python3-venv" in c for c in calls), calls
    assert any(c.startswith("useradd") and "--groups gpio,video" in c and
               c.endswith(" tensorchicken") for c in calls), calls
    assert "groupadd --system gpio" in calls
    pip = next(c for c in calls if c.startswith("pip install"))
    assert pip.endswith(f"{box.source}[pi]") and "--constraint" in pip

    constraints = box.file("/opt/tensorchicken/constraints.txt").read_text()
    assert "numpy==1.24.2" in constraints and "opencv-python-headless<4.12" in constraints

    config = yaml.safe_load(box.file("/etc/tensorchicken/config.yaml").read_text())
    assert config["cameras"][0]["kind"] == "picamera2"
    assert config["decision"]["armed"] is False
    # Commands run by hand with -c must use the service's folders, not ~/.local.
    assert config["paths"] == {"state_dir": "/var/lib/tensorchicken",
                               "data_dir": "/var/lib/tensorchicken/assets"}
    unit_text = (REPO / "systemd/tensorchicken.service").read_text()
    assert "StateDirectory=tensorchicken\n" in unit_text
    assert "TENSORCHICKEN_DATA_DIR=/var/lib/tensorchicken/assets\n" in unit_text

    unit = box.file("/etc/systemd/system/tensorchicken.service")
    assert unit.read_text() == (REPO / "systemd/tensorchicken.service").read_text()
    assert "systemctl enable --quiet tensorchicken.service" in calls
    assert "systemctl start --no-block tensorchicken.service" in calls

    assets = box.file("/var/lib/tensorchicken/assets")
    models = sorted(p.name for p in assets.iterdir() if p.suffix == ".tflite")
    assert models, out
    assert all(_sha(assets / m) == _sha(MIRROR / m) for m in models)
    assert (box.file("/etc/credstore").stat().st_mode & 0o777) == 0o700
    assert "valid" in out and "Next:" in out


def test_second_run_changes_nothing(box: Box) -> None:
    box.run()
    before = box.snapshot()
    out = box.run().stdout
    assert box.mutating_calls() == []
    assert box.snapshot() == before
    assert "Nothing to change" in out


def test_a_changed_source_reinstalls_and_restarts(box: Box) -> None:
    box.run()
    box.file("/opt/tensorchicken/installed-from").write_text("something older\n")
    box.run()
    calls = box.mutating_calls()
    assert any(c.startswith("pip install") for c in calls)
    assert "systemctl restart --no-block tensorchicken.service" in calls


def test_the_owners_config_is_kept(box: Box) -> None:
    mine = "cameras:\n  - name: run\n    kind: opencv\n    address: '0'\n"
    config = box.file("/etc/tensorchicken/config.yaml")
    config.parent.mkdir(parents=True)
    config.write_text(mine)
    box.run()
    assert config.read_text() == mine


def test_an_invalid_config_is_reported_and_the_service_not_started(box: Box) -> None:
    config = box.file("/etc/tensorchicken/config.yaml")
    config.parent.mkdir(parents=True)
    config.write_text("cameras:\n  - name: coop\n    kind: webcam\n")
    result = box.run(check=False)
    assert result.returncode == 1
    assert "cameras.0.kind" in result.stdout
    assert not any(c.startswith("systemctl start") for c in box.calls())


def test_without_picamera2_in_apt_the_pi_extra_is_skipped(box: Box) -> None:
    box.env["FAKE_APT_MISSING"] = "python3-picamera2"
    out = box.run().stdout
    pip = next(c for c in box.calls() if c.startswith("pip install"))
    assert pip.endswith(str(box.source))
    assert "python3-picamera2 is not in this system's apt archive" in out


def test_dry_run_changes_nothing(box: Box) -> None:
    out = box.run("--dry-run").stdout
    assert box.mutating_calls() == []
    assert [p for p in box.root.rglob("*") if p.is_file()] == []
    assert "would run: useradd" in out and "would be made" in out


def test_uninstall_keeps_config_secrets_and_events(box: Box) -> None:
    box.run()
    events = box.file("/var/lib/tensorchicken/events.sqlite3")
    events.write_text("the owner's events")
    secret = box.file("/etc/credstore/mqtt_password")
    secret.write_text("hunter2")
    box.run("--uninstall")
    calls = box.calls()
    assert "systemctl disable --quiet tensorchicken.service" in calls
    assert "userdel tensorchicken" in calls
    assert not box.file("/etc/systemd/system/tensorchicken.service").exists()
    assert not box.file("/opt/tensorchicken").exists()
    assert not box.file("/var/lib/tensorchicken/assets").exists()
    assert events.read_text() == "the owner's events"
    assert secret.read_text() == "hunter2"
    assert box.file("/etc/tensorchicken/config.yaml").exists()
    box.run("--uninstall")
    assert box.mutating_calls() == []


def test_bad_arguments_exit_with_one_line(box: Box) -> None:
    result = box.run("--frobnicate", check=False)
    assert result.returncode != 0
    assert "unknown argument: --frobnicate" in result.stderr
