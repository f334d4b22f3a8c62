"""A model package: a head trained on this coop's photos, usable as a model by the Classifier.

A package is a folder ``<data_dir>/packages/<name>-<version>/``::

    package.yaml     # what it is: name, version, the extractor (manifest name + sha256, never a
                     # copy), the head's and the verdict map's sha256, labels, the training
                     # photos' sha256, the held-out metrics
    head.npz         # the softmax layer (arrays only, no pickles)
    verdicts.yaml    # which of its labels mean chicken, which predator (models/verdicts format)

At load every file is checked: the extractor's sha256 in the asset manifest must be the one the
head was trained on (another extractor gives other features: the head would be meaningless), the
extractor file is verified like any model, and the head and verdict map must have the sha256
recorded in ``package.yaml``. Any mismatch is a :class:`ModelError` naming the file.

A package is written into a temporary folder and renamed into place, so a folder with a
``package.yaml`` is always complete; versions are never overwritten.

Example::

    model = load_package_model(packages_dir(data_dir) / "coop-20260501T2114", store, threads=2)
    classifier = Classifier([primary, model])        # or as a shadow beside the primary
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from classifier.assets import AssetFiles
from classifier.embeddings import Extractor, ExtractorRef, extractor_spec, load_extractor
from classifier.errors import ModelError
from classifier.head import SoftmaxHead
from classifier.model import InputPreparer
from classifier.scene_gate import GATE_FILE, GatedHead, layer_of
from classifier.spec import ModelSpec, load_specs
from classifier.verdict_map import VerdictMap, load_verdict_map
from groundwork.digest import sha256_of
from groundwork.durable import replace_durably

log = logging.getLogger(__name__)

PACKAGE_FILE = "package.yaml"
HEAD_FILE = "head.npz"
VERDICTS_FILE = "verdicts.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileRef(_Strict):
    """A file of the package and its sha256."""

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ExtractorEntry(_Strict):
    """The extractor the head was trained on: a manifest model, by name and file sha256."""

    model: str
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    outputs: int = Field(gt=0)


# A package's name and version: they name its folder, so no separators and nothing empty.
NAME_PATTERN = r"^[A-Za-z0-9_.-]+$"


class PackageInfo(_Strict):
    """The contents of ``package.yaml``."""

    format: Literal[1] = 1
    name: str = Field(pattern=NAME_PATTERN)
    version: str = Field(pattern=NAME_PATTERN)
    created: str
    description: str = ""
    extractor: ExtractorEntry
    head: FileRef | None = Field(None, description="filled in by write_package")
    gate: FileRef | None = Field(
        None, description="a re-fit's scene gate (classifier.scene_gate), filled in by "
        "write_package: the re-fit decides only near the crops it was fitted on")
    verdicts: FileRef | None = Field(None, description="filled in by write_package")
    labels: list[str] = Field(min_length=2)
    thresholds: dict[str, float] = Field(
        default_factory=dict, description="predator/chicken thresholds the operating point was "
        "chosen for (the classifier's models.predator_threshold and chicken_threshold)")
    blend: float | None = Field(
        None, gt=0, le=1, description="the head's weight when its scores are blended with the "
        "zero-shot models' (classifier/blend.py); none: the head decides alone")
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)

    @property
    def model_name(self) -> str:
        """The name the package goes by as a model: ``<name>-<version>``."""
        return f"{self.name}-{self.version}"


def packages_dir(data_dir: Path) -> Path:
    """Where packages live: ``<data_dir>/packages`` (the appliance's data folder:
    ``edge.paths.default_data_dir()`` unless configured)."""
    return Path(data_dir) / "packages"


def is_package(path: Path) -> bool:
    """True if ``path`` is a folder holding a ``package.yaml``."""
    return (Path(path) / PACKAGE_FILE).is_file()


def read_package(path: Path) -> PackageInfo:
    """The ``package.yaml`` of package folder ``path``; ModelError naming the file."""
    file = Path(path) / PACKAGE_FILE
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{file}: missing; {path} is not a model package") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"{file}: cannot read the package description: {exc}") from None
    try:
        info = PackageInfo.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ModelError(f"{file}: {problems}") from None
    for what in ("head", "verdicts"):
        if getattr(info, what) is None:
            raise ModelError(f"{file}: no '{what}' entry (file and sha256); the package is "
                             "incomplete")
    return info


def checked_file(folder: Path, ref: FileRef | None, what: str) -> Path:
    """``folder/ref.file`` after checking its sha256; ModelError naming the file otherwise."""
    if ref is None:
        raise ModelError(f"{folder / PACKAGE_FILE}: no entry for the {what}")
    path = folder / ref.file
    if Path(ref.file).name != ref.file:
        raise ModelError(f"{folder / PACKAGE_FILE}: {what} file {ref.file!r} must be a bare name")
    try:
        actual = sha256_of(path)
    except FileNotFoundError:
        raise ModelError(f"{path}: the package's {what} is missing; the package is incomplete "
                         "(retrain, or restore the whole folder)") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the package's {what}: {exc}") from None
    if actual != ref.sha256:
        raise ModelError(f"{path}: the package's {what} has sha256 {actual}, but "
                         f"{PACKAGE_FILE} says {ref.sha256}: it was changed or damaged "
                         "(retrain, or restore the whole folder)")
    return path


def _check_extractor(info: PackageInfo, store: AssetFiles, origin: Path) -> ModelSpec:
    spec = extractor_spec(info.extractor.model, load_specs())
    if spec.file not in store:
        raise ModelError(f"{origin}: extractor file {spec.file} is not in the asset manifest")
    current = store.sha256(spec.file)
    if spec.file != info.extractor.file or current != info.extractor.sha256:
        raise ModelError(
            f"{origin}: the head was trained on {info.extractor.file} (sha256 "
            f"{info.extractor.sha256}), but model {info.extractor.model} is now {spec.file} "
            f"(sha256 {current}); its features differ, so retrain the head")
    return spec


class PackageModel:
    """A package loaded as a model: the extractor, then the head; the interface of
    :class:`~classifier.model.TFLiteModel` that :class:`~classifier.ensemble.Classifier` uses.
    ``probabilities`` is thread-safe (the extractor has its own lock; the head is pure)."""

    def __init__(self, info: PackageInfo, path: Path, extractor: Extractor,
                 head: SoftmaxHead | GatedHead, verdicts: VerdictMap, threads: int) -> None:
        self.info = info
        self.path = path
        self.extractor = extractor
        self.head = head
        self.labels = list(info.labels)
        self.verdicts: VerdictMap | None = verdicts
        self.threads = threads
        self.load_ms = extractor.load_ms
        self.spec = _spec_of(info, extractor.model.spec)
        self.background_indices = np.array(
            [i for i, label in enumerate(self.labels) if label == "background"], dtype=np.intp)

    @property
    def name(self) -> str:
        """``<name>-<version>`` of the package."""
        return self.info.model_name

    @property
    def prepare(self) -> InputPreparer:
        """The extractor's input preparation (``prepare.side`` is the crop side it wants)."""
        return self.extractor.prepare

    def probabilities(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """The head's probabilities for one picture and the ms of extractor plus head."""
        features, invoke_ms = self.extractor.embed(rgb)
        started = time.perf_counter()
        probs = self.head.probabilities(features)[0]
        return probs, invoke_ms + (time.perf_counter() - started) * 1000.0

    def infer(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
        """:meth:`probabilities`, with no features: the default head reads none of a package."""
        probs, ms = self.probabilities(rgb)
        return probs, None, ms


def _spec_of(info: PackageInfo, extractor: ModelSpec) -> ModelSpec:
    """A manifest-style description of the package, so code that reads ``model.spec`` works."""
    return ModelSpec.model_validate({
        "name": info.model_name, "kind": "classifier", "file": extractor.file,
        "version": info.version, "input": extractor.input, "quantised": extractor.quantised,
        "outputs": len(info.labels),
        "licence": "local model package (head trained on the owner's photos); extractor: "
        + extractor.licence,
        "description": info.description or f"head on {info.extractor.model}",
        "blend": info.blend,
    })


def load_package_model(path: Path, store: AssetFiles, threads: int) -> PackageModel:
    """The package in folder ``path``, every file checked; ModelError naming the file. A
    re-fit with a scene gate (``gate:``) is gated by it."""
    path = Path(path)
    info = read_package(path)
    _check_extractor(info, store, path / PACKAGE_FILE)
    layer = SoftmaxHead.load(checked_file(path, info.head, "head"))
    verdicts = load_verdict_map(checked_file(path, info.verdicts, "verdict map"), info.labels)
    if list(layer.classes) != info.labels:
        raise ModelError(f"{path / HEAD_FILE}: its classes {list(layer.classes)} are not the "
                         f"labels in {PACKAGE_FILE} {info.labels}")
    if layer.inputs != info.extractor.outputs:
        raise ModelError(f"{path / HEAD_FILE}: takes {layer.inputs} features, the extractor "
                         f"gives {info.extractor.outputs}")
    head = layer if info.gate is None else \
        GatedHead.load(layer, checked_file(path, info.gate, "scene gate"))
    extractor = load_extractor(store, threads, info.extractor.model)
    log.info("package %s loaded from %s (%d labels, %d threads)", info.model_name, path,
             len(info.labels), threads)
    return PackageModel(info, path, extractor, head, verdicts, threads)


def write_package(
    parent: Path, info: PackageInfo, head: SoftmaxHead | GatedHead,
    verdict_groups: dict[str, Any]
) -> Path:
    """Write package ``info`` with ``head`` and its verdict map under ``parent``; the folder.

    ``info``'s ``head``, ``verdicts`` and (for a gated re-fit) ``gate`` entries are filled in
    here (names and sha256).
    """
    final = Path(parent) / info.model_name
    if final.exists():
        raise ModelError(f"{final}: a package of that name and version exists; versions are "
                         "never overwritten (choose another --version)")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{info.model_name}.", dir=final.parent))
    try:
        head_ref = _write(tmp / HEAD_FILE, layer_of(head).to_bytes())
        gate_ref = (_write(tmp / GATE_FILE, head.gate_bytes())
                    if isinstance(head, GatedHead) else None)
        verdicts_ref = _write(tmp / VERDICTS_FILE, _verdicts_yaml(verdict_groups).encode())
        complete = info.model_copy(update={"head": head_ref, "verdicts": verdicts_ref,
                                           "gate": gate_ref})
        body = yaml.safe_dump(complete.model_dump(mode="json"), sort_keys=False)
        _write(tmp / PACKAGE_FILE, f"# A TensorChicken model package\n{body}".encode())
        replace_durably(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("package %s written to %s", info.model_name, final)
    return final


def _verdicts_yaml(groups: dict[str, Any]) -> str:
    header = "# Which of the head's labels mean chicken and which predator; others: background\n"
    return header + yaml.safe_dump(groups, sort_keys=False)


def _write(path: Path, data: bytes) -> FileRef:
    with path.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    return FileRef(file=path.name, sha256=sha256_of(path))


def extractor_entry(ref: ExtractorRef) -> ExtractorEntry:
    """The package's record of an extractor."""
    return ExtractorEntry(model=ref.model, file=ref.file, sha256=ref.sha256, outputs=ref.outputs)

