"""Fixtures shared by every test: the real shared models and data, a fresh asset folder,
and gpiozero mock pins."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.events.broker import MosquittoBroker

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TENSORCHICKEN_SHARED", REPO.parent / "shared"))
SHARED_MODELS = SHARED / "models"
SHARED_DATA = SHARED / "data"

# Tests read the real models and photos from the shared mirror, never from the network.
os.environ.setdefault("TENSORCHICKEN_MIRROR", f"{SHARED_MODELS}:{SHARED_DATA}")


@pytest.fixture(scope="session", autouse=True)
def _asset_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One asset folder for the whole run, so models are copied once, never into $HOME."""
    path = tmp_path_factory.mktemp("assets")
    old = os.environ.get("TENSORCHICKEN_DATA_DIR")
    os.environ["TENSORCHICKEN_DATA_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("TENSORCHICKEN_DATA_DIR", None)
    else:
        os.environ["TENSORCHICKEN_DATA_DIR"] = old


@pytest.fixture()
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A mosquitto of our own on a free loopback port, stopped after the test."""
    running = MosquittoBroker(tmp_path / "broker")
    running.start()
    yield running
    running.stop()


@pytest.fixture()
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh state folder (event log, archive) for one test."""
    path = tmp_path / "state"
    path.mkdir()
    monkeypatch.setenv("TENSORCHICKEN_STATE_DIR", str(path))
    return path


@pytest.fixture()
def mock_factory() -> Iterator[object]:
    """A fresh gpiozero MockFactory installed as the default, the old one restored after."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    old = Device.pin_factory
    factory = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = factory
    yield factory
    factory.reset()
    Device.pin_factory = old


@pytest.fixture(scope="session")
def asset_store(_asset_dir: Path):  # type: ignore[no-untyped-def]
    """The asset store over the session's asset folder, filled from the shared mirror."""
    from edge.assets import AssetStore

    return AssetStore(data_dir=_asset_dir)


@pytest.fixture()
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths os.fsync is called on, in order (the real fsync still runs)."""
    seen: list[str] = []
    real: Callable[[int], None] = os.fsync

    def recording(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", recording)
    return seen


def gated_refit_copy(folder: Path, version: str, crops: int = 5) -> Any:
    """A copy of the shipped default head in ``folder``, at ``version``, made a gated re-fit as
    ``tensorchicken learn refit`` writes one (classifier.scene_gate): its layer re-biased, its
    gate of ``crops`` random crops' features, both files recorded in head.yaml. The GatedHead."""
    import dataclasses
    import hashlib
    import shutil

    import numpy as np
    import yaml

    from classifier.feature_head import DEFAULT_HEAD_DIR, INFO_FILE, shipped_head
    from classifier.scene_gate import GATE_FILE, GatedHead

    shutil.copytree(DEFAULT_HEAD_DIR, folder)
    base = shipped_head().layer
    refit = dataclasses.replace(base, bias=base.bias + np.float32(1.0))
    fitted = np.random.default_rng(1).normal(size=(crops, base.inputs)).astype(np.float32)
    gated = GatedHead.around(base, refit, fitted)
    (folder / "head.npz").write_bytes(refit.to_bytes())
    (folder / GATE_FILE).write_bytes(gated.gate_bytes())
    info = yaml.safe_load((folder / INFO_FILE).read_text(encoding="utf-8"))
    info["version"] = version
    info["head"]["sha256"] = hashlib.sha256(refit.to_bytes()).hexdigest()
    info["gate"] = {"file": GATE_FILE, "sha256": hashlib.sha256(gated.gate_bytes()).hexdigest()}
    (folder / INFO_FILE).write_text(yaml.safe_dump(info, sort_keys=False), encoding="utf-8")
    return gated
