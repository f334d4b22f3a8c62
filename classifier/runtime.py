"""The TFLite interpreter: from ``ai_edge_litert``, else ``tflite_runtime``, else TensorFlow.

Imported lazily so that a machine with only one of the three still imports this package, and so
that the choice is made once, when the first model is loaded.
"""

from __future__ import annotations

import importlib
import logging
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

# Most preferred first: ai-edge-litert is the maintained successor and works with NumPy 2;
# tflite-runtime 2.14 (its last release) needs NumPy 1.x; full TensorFlow is the last resort.
_CANDIDATES = (
    ("ai_edge_litert.interpreter", "Interpreter"),
    ("tflite_runtime.interpreter", "Interpreter"),
    ("tensorflow.lite", "Interpreter"),
)


@cache
def interpreter_class() -> Any:
    """The ``Interpreter`` class of the first runtime that imports; ImportError if none does."""
    failures = []
    for module_name, attr in _CANDIDATES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            failures.append(f"{module_name}: {exc}")
            continue
        log.debug("TFLite runtime: %s", module_name)
        return getattr(module, attr)
    raise ImportError("no TFLite runtime is installed (" + "; ".join(failures) + ")")


def make_interpreter(path: str, threads: int) -> Any:
    """A new interpreter over ``path`` with ``threads`` threads, tensors allocated."""
    interpreter = interpreter_class()(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    return interpreter
