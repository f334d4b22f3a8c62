"""From a manifest entry to a checked :class:`TFLiteModel`: files fetched, verified, then loaded.

Every file goes through the same path: the asset store gives a local copy, its sha256 is checked
against the manifest (even when it was already there: a file damaged on the SD card must not be
trusted), then the model's tensors are checked against its declaration.
"""

from __future__ import annotations

import logging
import tarfile
from pathlib import Path

from classifier.assets import AssetFiles, AssetUnavailable
from classifier.errors import ModelError
from classifier.model import TFLiteModel
from classifier.spec import ModelSpec
from classifier.verdict_map import VerdictMap, load_verdict_map, verdicts_dir
from groundwork.digest import sha256_of, verify_sha256
from groundwork.durable import write_durably

log = logging.getLogger(__name__)


def verified_asset(store: AssetFiles, name: str) -> Path:
    """The local copy of asset ``name``, its sha256 checked; ModelError naming the file."""
    if name not in store:
        raise ModelError(
            f"{name}: not in the manifest's files: list, so it cannot be fetched and verified"
        )
    try:
        path = store.path(name)
        verify_sha256(path, store.sha256(name), ModelError)
    except (AssetUnavailable, OSError) as exc:
        raise ModelError(str(exc)) from None
    return path


def model_file(spec: ModelSpec, store: AssetFiles) -> Path:
    """The .tflite of ``spec``: the asset itself, or its member extracted from an archive asset."""
    path = verified_asset(store, spec.file)
    if spec.member is None:
        return path
    target = path.parent / f"{path.name}.d" / spec.member
    if not target.is_file() or (spec.member_sha256 and sha256_of(target) != spec.member_sha256):
        _extract_member(path, spec.member, target)
    if spec.member_sha256:
        verify_sha256(target, spec.member_sha256, ModelError)
    return target


def _extract_member(archive: Path, member: str, target: Path) -> None:
    """Copy one regular file out of a tar archive, by name only (no paths from the archive)."""
    try:
        with tarfile.open(archive) as tar:
            info = next((m for m in tar.getmembers() if Path(m.name).name == member), None)
            if info is None or not info.isfile():
                raise ModelError(f"{archive}: holds no regular file named {member}")
            source = tar.extractfile(info)
            assert source is not None  # a regular file always has content
            target.parent.mkdir(parents=True, exist_ok=True)
            write_durably(target, source.read())
    except (tarfile.TarError, OSError) as exc:
        raise ModelError(f"{archive}: cannot extract {member}: {exc}") from None


def read_labels(path: Path) -> list[str]:
    """One label per line, line N = output index N (trailing blank lines dropped)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the labels: {exc}") from None
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.strip() for line in lines]


def load_model(
    spec: ModelSpec, store: AssetFiles, threads: int, verdict_dir: Path | None = None
) -> TFLiteModel:
    """The checked model of ``spec`` with its labels and verdict map."""
    path = model_file(spec, store)
    labels = read_labels(verified_asset(store, spec.labels)) if spec.labels else []
    verdicts: VerdictMap | None = None
    model = TFLiteModel(spec, path, labels, None, threads)
    if spec.verdicts:
        map_path = (verdict_dir or verdicts_dir()) / spec.verdicts
        verdicts = load_verdict_map(map_path, labels, spec.label_offset)
        model.verdicts = verdicts
    log.info(
        "model %s loaded from %s in %.0f ms (%d threads)", spec.name, path, model.load_ms, threads
    )
    return model
