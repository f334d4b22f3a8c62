"""A file's sha256, and the check that a file is the one a manifest names."""

from __future__ import annotations

import hashlib
from pathlib import Path


def hash_of(path: Path, digest: hashlib._Hash) -> str:
    """The hex digest of a file read in blocks into ``digest``."""
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file."""
    return hash_of(path, hashlib.sha256())


def verify_sha256(path: Path, expected: str, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming the file unless its sha256 is ``expected``.

    The caller picks the error its own callers expect (the asset store's ``AssetError``, the
    classifier's ``ModelError``); the message is the same everywhere.
    """
    actual = sha256_of(path)
    if actual != expected:
        raise error(
            f"{path}: sha256 is {actual}, the manifest says {expected}; the file is corrupt, "
            "truncated or not the one expected. Delete it and run 'tensorchicken fetch-models'."
        )
