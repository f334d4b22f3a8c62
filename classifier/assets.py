"""Where the classifier gets its files: anything that gives an asset's local copy and sha256.

The classifier never fetches or stores files itself. The appliance's asset store
(``edge.assets.AssetStore``, filled from mirrors or the network) is one such source; a test or
another program can pass any object with these two methods.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class AssetUnavailable(RuntimeError):
    """An asset that is not known, cannot be had, or is not the file its manifest names."""


class AssetFiles(Protocol):
    """The files models are made of, by asset name (``files:`` in ``models/manifest.yaml``)."""

    def __contains__(self, name: object) -> bool:
        """Whether the manifest names asset ``name``."""
        ...

    def sha256(self, name: str) -> str:
        """The sha256 the local copy of ``name`` must have; AssetUnavailable if it cannot be
        known (an unknown name, or a file known by another digest that cannot be had)."""
        ...

    def path(self, name: str) -> Path:
        """The local copy of ``name``, fetched first if missing (an existing copy is not re-read:
        the caller verifies it); AssetUnavailable or OSError if it cannot be had."""
        ...
