"""Fixtures for the rendezvous tests: real models and photos, and a model made slow."""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from classifier import crop_square, load_image
from classifier.config import ModelsConfig, ModelUse
from classifier.ensemble import load_any
from classifier.spec import load_specs
from edge.assets import AssetStore
from tests.conftest import SHARED_DATA


class Slow:
    """A real model that takes ``delay_s`` longer per picture (the narrowest seam there is)."""

    def __init__(self, model: Any, delay_s: float) -> None:
        self._model = model
        self.delay_s = delay_s
        self.calls = 0
        self._released = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def probabilities(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        probs, _, invoke_ms = self.infer(rgb)
        return probs, invoke_ms

    def infer(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
        # Both ways a model is run (the default head's sources are run through infer).
        self.calls += 1
        self._released.wait(self.delay_s)
        return self._model.infer(rgb)  # type: ignore[no-any-return]

    def release(self) -> None:
        """End every delay, now and from now on (so a test can close a stalled model at once)."""
        self._released.set()


def uses(*entries: tuple[str, str], **settings: Any) -> ModelsConfig:
    """A models configuration of (name, role) pairs, one thread each."""
    use = [ModelUse(name=n, role=r, threads=1) for n, r in entries]  # type: ignore[call-arg, arg-type]
    return ModelsConfig.model_validate({"use": use, **settings})


@pytest.fixture(scope="session")
def loader(asset_store: AssetStore) -> Callable[..., Callable[[ModelUse], Any]]:
    """``loader(slow={name: delay_s})``: a load function for Rendezvous, some models slowed."""
    specs = load_specs()

    def make(slow: dict[str, float] | None = None) -> Callable[[ModelUse], Any]:
        def load(use: ModelUse) -> Any:
            model = load_any(use, asset_store, specs)
            delay = (slow or {}).get(use.name)
            return Slow(model, delay) if delay else model

        return load

    return make


@pytest.fixture(scope="session")
def photos() -> list[tuple[np.ndarray, str]]:
    """Up to 24 chickens and 24 predators of the shared set, as 224 px crops, with labels."""
    picked: dict[str, list[tuple[np.ndarray, str]]] = {"chicken": [], "predator": []}
    with (SHARED_DATA / "MANIFEST.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            group = picked.get(row["label"])
            if group is not None and len(group) < 24:
                rgb = load_image(SHARED_DATA / row["file"])
                square = crop_square(np.ascontiguousarray(rgb[..., ::-1]), [], size=224)
                group.append((square, row["label"]))
    mixed = [p for pair in zip(picked["chicken"], picked["predator"], strict=False) for p in pair]
    return mixed
