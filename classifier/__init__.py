"""Quantised TFLite models that turn a crop into a verdict: chicken, predator or background.

From the pipeline::

    classifier = load_classifier(config.models, store)      # once; ModelError if a file is wrong
    rgb = crop_square(frame.image, boxes, size=224)          # RGB square around what moved
    result = classifier.classify(rgb)                        # Classification, thread-safe
    classifier.close()
"""

from classifier.crop import crop_square
from classifier.ensemble import Classifier, Thresholds, combine, load_classifier
from classifier.errors import ClassifierError, ImageError, ModelError
from classifier.image import load_image
from classifier.verdict import Classification, ModelScore, Verdict

__all__ = [
    "Classification", "Classifier", "ClassifierError", "ImageError", "ModelError", "ModelScore",
    "Thresholds", "Verdict", "combine", "crop_square", "load_classifier", "load_image",
]
