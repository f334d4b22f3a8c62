"""The COCO SSD detector, used offline: to measure it (``scripts/measure_detector.py``) and to
cut training pictures down to what a motion crop would show (``edge.train.default_head``).

It never runs on the appliance (README, "The COCO detector: measured, not adopted"): its boxes
only stand in, at training time, for the moving regions a camera would have found.

Example::

    detector = SsdDetector(Path("coco_ssd_mobilenet_v1_1.0_quant_detect.tflite"),
                           Path("coco_labels.txt"), threads=2)
    for found in detector.detect(rgb):
        print(found.label, found.score, found.box)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from camera.box import Box
from classifier.runtime import make_interpreter
from edge.train.errors import TrainError

DETECTOR_FILE = "coco_ssd_mobilenet_v1_1.0_quant_detect.tflite"
LABELS_FILE = "coco_labels.txt"
ANIMALS = frozenset({"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
                     "giraffe", "teddy bear"})
# The lowest score any user of the detector looks at.
FLOOR = 0.3


@dataclass(frozen=True, slots=True)
class Found:
    """One detection: COCO label, score, and where (fractions of the picture)."""

    label: str
    score: float
    box: Box


class SsdDetector:
    """The TFLite SSD with its post-processing op: 1x300x300x3 uint8 in; boxes (ymin, xmin,
    ymax, xmax), classes, scores and a count out."""

    def __init__(self, model: Path, labels: Path, threads: int) -> None:
        for path in (model, labels):
            if not path.is_file():
                raise TrainError(f"{path}: the COCO detector's file is missing (it is in the "
                                 "model mirror, ../shared/models)")
        self.labels = labels.read_text(encoding="utf-8").splitlines()
        self.interpreter = make_interpreter(str(model), threads)
        (inp,) = self.interpreter.get_input_details()
        if tuple(inp["shape"]) != (1, 300, 300, 3) or inp["dtype"] != np.uint8:
            raise TrainError(f"{model}: expected a 1x300x300x3 uint8 input, got "
                             f"{inp['shape']} {inp['dtype']}")
        self.input = inp["index"]
        self.outputs = [d["index"] for d in self.interpreter.get_output_details()]
        if len(self.outputs) != 4:
            raise TrainError(f"{model}: expected 4 outputs (boxes, classes, scores, count)")

    def detect(self, rgb: np.ndarray) -> list[Found]:
        """Detections scored at least :data:`FLOOR`, as the model orders them."""
        self.interpreter.set_tensor(self.input, cv2.resize(rgb, (300, 300))[np.newaxis])
        self.interpreter.invoke()
        boxes, classes, scores, count = (self.interpreter.get_tensor(i) for i in self.outputs)
        found = []
        for i in range(int(count[0])):
            if scores[0][i] < FLOOR:
                continue
            y0, x0, y1, x1 = np.clip(boxes[0][i], 0.0, 1.0)
            cls = int(classes[0][i])
            label = self.labels[cls] if 0 <= cls < len(self.labels) else str(cls)
            found.append(Found(label, float(scores[0][i]),
                               Box(float(x0), float(y0), float(x1 - x0), float(y1 - y0))))
        return found
