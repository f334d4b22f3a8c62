"""Fixtures for the classifier tests: the real models, loaded once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from classifier import Classifier, load_classifier
from classifier.config import ModelsConfig
from edge.assets import AssetStore


@pytest.fixture(scope="session")
def default_classifier(asset_store: AssetStore) -> Iterator[Classifier]:
    """The default configuration's classifier (ImageNet MobileNet v2 + iNat birds), real files."""
    classifier = load_classifier(ModelsConfig(), asset_store)  # type: ignore[call-arg]
    yield classifier
    classifier.close()
