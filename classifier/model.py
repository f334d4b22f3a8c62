"""One TFLite model: loaded and checked once, then turned into probabilities per crop.

pycoral's habits: the interpreter is created once and its tensors are checked at load with a
message naming the file; pre-processing and post-processing are pure functions of the tensor
details (``prepare_input``, ``dequantize``), kept apart from the interpreter.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from classifier.errors import ModelError
from classifier.quant import dequantize, pixel_table
from classifier.resize import resize
from classifier.runtime import make_interpreter
from classifier.spec import InputSpec, ModelSpec
from classifier.verdict_map import VerdictMap

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """What pre- and post-processing need of a tensor."""

    index: int
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int


def tensor_info(detail: dict[str, Any]) -> TensorInfo:
    """A :class:`TensorInfo` from one of the interpreter's tensor details."""
    scale, zero_point = detail.get("quantization", (0.0, 0))
    return TensorInfo(
        index=int(detail["index"]),
        shape=tuple(int(d) for d in detail["shape"]),
        dtype=np.dtype(detail["dtype"]),
        scale=float(scale),
        zero_point=int(zero_point),
    )


def fit_square(rgb: np.ndarray, side: int, fit: str) -> np.ndarray:
    """``rgb`` resized to ``side`` x ``side`` keeping its aspect ratio.

    ``pad`` scales the longer side to ``side`` and letterboxes the shorter with mid-grey (which
    normalises to zero) so nothing at the edges is lost; ``crop`` cuts the centred square first.
    """
    height, width = rgb.shape[:2]
    if fit == "crop" and height != width:
        short = min(height, width)
        y0, x0 = (height - short) // 2, (width - short) // 2
        rgb = rgb[y0:y0 + short, x0:x0 + short]
        height = width = short
    if height == width == side:
        return rgb
    scale = side / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = resize(rgb, new_w, new_h)
    if new_w == new_h == side:
        return resized
    top, left = (side - new_h) // 2, (side - new_w) // 2
    return cv2.copyMakeBorder(
        resized, top, side - new_h - top, left, side - new_w - left, cv2.BORDER_CONSTANT,
        value=(128, 128, 128),
    )


def as_rgb(image: np.ndarray) -> np.ndarray:
    """An HxWx3 uint8 view of a grey (HxW, HxWx1), RGB or RGBA uint8 array."""
    if image.dtype != np.uint8:
        raise ValueError(f"a picture must be uint8, got {image.dtype}")
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] in (3, 4) and min(image.shape[:2]) > 0:
        return image[..., :3]
    raise ValueError(f"a picture must be HxW, HxWx3 or HxWx4, got shape {image.shape}")


class InputPreparer:
    """From any RGB picture to the exact array the input tensor takes, by the tensor's details."""

    def __init__(self, info: TensorInfo, declared: InputSpec) -> None:
        self.side = info.shape[1]
        self.fit = declared.fit
        self.bgr = declared.order == "BGR"
        self.table = pixel_table(
            info.dtype, info.scale, info.zero_point, declared.mean, declared.std
        )
        self._cv_lut = self.table.dtype == np.uint8

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """The 1xHxWx3 input array for ``rgb``."""
        square = fit_square(as_rgb(rgb), self.side, self.fit)
        if self.bgr:
            square = square[..., ::-1]
        if self._cv_lut:
            values = cv2.LUT(np.ascontiguousarray(square), self.table)
        else:
            values = self.table[square]
        return values[np.newaxis]


class Model(Protocol):
    """What the classifier asks of a loaded model: a manifest model (:class:`TFLiteModel`) or a
    retrained package (:class:`classifier.package.PackageModel`)."""

    spec: ModelSpec
    path: Path
    labels: list[str]
    verdicts: VerdictMap | None
    threads: int
    load_ms: float
    background_indices: np.ndarray

    @property
    def name(self) -> str:
        """The model's name (the manifest's, or a package's ``<name>-<version>``)."""
        ...

    @property
    def prepare(self) -> InputPreparer:
        """How a picture becomes the model's input (``prepare.side``: the crop side)."""
        ...

    def probabilities(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """Dequantised outputs for one picture, and the milliseconds the model ran."""
        ...

    def infer(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
        """Outputs, the pre-logits features the default head reads (None if the model gives
        none), and the milliseconds the model ran."""
        ...


class TFLiteModel:
    """A checked, loaded model. ``probabilities`` is thread-safe: one lock per interpreter."""

    def __init__(
        self, spec: ModelSpec, path: Path, labels: list[str], verdicts: VerdictMap | None,
        threads: int,
    ) -> None:
        self.spec = spec
        self.path = path
        self.labels = labels
        self.verdicts = verdicts
        self.threads = threads
        started = time.perf_counter()
        try:
            self._interpreter = make_interpreter(str(path), threads)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"{path}: not a TFLite model the runtime can load: {exc}") from None
        self.load_ms = (time.perf_counter() - started) * 1000.0
        self.input, self.output = self._check_tensors()
        self.features = (
            feature_tensor(self._interpreter, spec.features, path) if spec.features else None
        )
        self.prepare = InputPreparer(self.input, spec.input)
        # Output indices of labels literally named "background" (index 0 of the ImageNet models,
        # the last of the iNat model): what the model says when it sees none of its classes.
        self.background_indices = np.array(
            [i + spec.label_offset for i, label in enumerate(labels) if label == "background"],
            dtype=np.intp,
        )
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The model's name in the manifest."""
        return self.spec.name

    def probabilities(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """Dequantised outputs for one picture, and the milliseconds of the bare ``invoke()``."""
        probs, _, invoke_ms = self.infer(rgb)
        return probs, invoke_ms

    def infer(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
        """Outputs, the pre-logits features (when the manifest names them, else None) and the
        ms of the bare ``invoke()``; both dequantised to float32."""
        values = self.prepare(rgb)
        with self._lock:
            self._interpreter.set_tensor(self.input.index, values)
            started = time.perf_counter()
            self._interpreter.invoke()
            invoke_ms = (time.perf_counter() - started) * 1000.0
            raw = self._interpreter.get_tensor(self.output.index)
            pooled = (
                None if self.features is None
                else self._interpreter.get_tensor(self.features.index)
            )
        probs = dequantize(raw.reshape(-1), self.output.scale, self.output.zero_point)
        if pooled is None or self.features is None:
            return probs, None, invoke_ms
        features = dequantize(pooled.reshape(-1), self.features.scale, self.features.zero_point)
        return probs, features.astype(np.float32, copy=False), invoke_ms

    def _check_tensors(self) -> tuple[TensorInfo, TensorInfo]:
        return check_tensors(
            self.spec, self.path, self._interpreter.get_input_details(),
            self._interpreter.get_output_details(), len(self.labels),
        )


def feature_tensor(interpreter: Any, name: str, path: Path) -> TensorInfo:
    """The tensor called ``name`` (a network's pre-logits pool), checked to be readable after
    ``invoke()``: TFLite's arena gives a dead tensor's memory to later ones, so its bytes would be
    another tensor's unless none computed after it shares them. Checking the buffers' addresses
    costs nothing per crop, where ``experimental_preserve_all_tensors`` keeps every tensor of
    the network in memory for good. ModelError naming the file otherwise."""
    details = {d["name"]: d for d in interpreter.get_tensor_details()}
    if name not in details:
        raise ModelError(f"{path}: no tensor named {name!r} for the features")
    info = tensor_info(details[name])
    later = _downstream(interpreter, info.index)
    start, size = _address(interpreter, info.index)
    if start is None:
        raise ModelError(f"{path}: tensor {name!r} has no memory of its own to read")
    for index in later:
        other, other_size = _address(interpreter, index)
        if other is not None and other < start + size and start < other + other_size:
            raise ModelError(f"{path}: tensor {name!r} shares memory with a later tensor "
                             f"({index}): its values cannot be read after invoke()")
    return info


def _downstream(interpreter: Any, index: int) -> set[int]:
    """Tensors computed, directly or not, from tensor ``index`` (delegated partitions included)."""
    ops = interpreter._get_ops_details()  # the only way the Python API lists the graph
    found: set[int] = set()
    frontier = {index}
    while frontier:
        produced = {
            int(t) for op in ops if frontier & {int(i) for i in op["inputs"]}
            for t in op["outputs"]
        } - found
        found |= produced
        frontier = produced
    return found


def _address(interpreter: Any, index: int) -> tuple[int | None, int]:
    try:
        view = interpreter.tensor(index)()
    except (ValueError, RuntimeError):
        return None, 0
    return (view.ctypes.data, view.nbytes) if view.nbytes else (None, 0)


def check_tensors(
    spec: ModelSpec, path: Path, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]],
    n_labels: int,
) -> tuple[TensorInfo, TensorInfo]:
    """The input and output tensors, checked against the manifest; ModelError naming the file."""

    def fail(problem: str) -> None:
        raise ModelError(f"{path} (model {spec.name}): {problem}")

    if len(inputs) != 1 or len(outputs) != 1:
        fail(f"has {len(inputs)} inputs and {len(outputs)} outputs, expected 1 and 1")
    info_in, info_out = tensor_info(inputs[0]), tensor_info(outputs[0])
    declared = spec.input
    if info_in.shape != declared.shape:
        fail(f"input shape is {list(info_in.shape)}, the manifest says {list(declared.shape)}")
    if info_in.shape[1] != info_in.shape[2] or info_in.shape[3] != 3:
        fail(f"input shape {list(info_in.shape)} is not a square 3-channel picture")
    if info_in.dtype.name != declared.dtype:
        fail(f"input dtype is {info_in.dtype.name}, the manifest says {declared.dtype}")
    for what, info in (("input", info_in), ("output", info_out)):
        quantised = info.dtype in (np.dtype(np.uint8), np.dtype(np.int8)) and info.scale > 0
        if spec.quantised and not quantised:
            fail(f"the manifest declares a quantised model but its {what} is "
                 f"{info.dtype.name} with scale {info.scale} (a float model?)")
        if not spec.quantised and quantised:
            fail(f"the manifest declares a float model but its {what} is quantised")
    expected = n_labels + spec.label_offset if n_labels else spec.outputs
    size = int(np.prod(info_out.shape[1:]))
    if expected is not None and size != expected:
        fail(f"output has {size} values but {spec.labels or 'the manifest'} gives {expected}"
             f" ({n_labels} labels + label_offset {spec.label_offset})")
    return info_in, info_out
