"""A slower board, emulated on a faster one: every model invoke made longer on purpose.

For ``scripts/bench_latency.py --slow-factor`` and the slow-board tests; the appliance never
calls it. The model's lock is held for the added time, so the model is busy for all of it, as
it would be on the slower board; the time the added wait takes is reported as invoke time.
What it does not emulate: a slower board's other stages (motion, crop, JPEG) and its smaller
caches. ``taskset``-style pinning to one core (``--cores 1``) covers the CPU contention side.

Example::

    with slowed_invokes(factor=8):            # a Pi 4's 40 ms model takes 320 ms
        ...
    with slowed_invokes(extra_ms=400):        # every invoke 400 ms longer
        ...
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from classifier.model import TFLiteModel

_PATCH_LOCK = threading.Lock()


@contextmanager
def slowed_invokes(*, factor: float = 1.0, extra_ms: float = 0.0) -> Iterator[None]:
    """While inside, each ``TFLiteModel.infer`` (which ``probabilities`` calls too, so every
    way a model is run) takes ``factor`` times its own invoke time plus ``extra_ms``;
    ValueError for a factor below 1 or a negative extra."""
    if factor < 1 or extra_ms < 0:
        raise ValueError(f"a slower board needs factor >= 1 and extra_ms >= 0, "
                         f"got {factor} and {extra_ms}")
    original = TFLiteModel.infer
    never = threading.Event()

    def slowed(self: TFLiteModel, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
        probs, features, invoke_ms = original(self, rgb)
        added_ms = invoke_ms * (factor - 1) + extra_ms
        with self._lock:  # the interpreter stays busy, as on the slower board
            never.wait(added_ms / 1000.0)
        return probs, features, invoke_ms + added_ms

    with _PATCH_LOCK:
        TFLiteModel.infer = slowed  # type: ignore[method-assign]
    try:
        yield
    finally:
        with _PATCH_LOCK:
            TFLiteModel.infer = original  # type: ignore[method-assign]


def pin_to_cores(count: int) -> list[int]:
    """Run this process (and the threads it starts from now on) on its first ``count`` allowed
    cores, like ``taskset``; the cores used."""
    allowed = sorted(os.sched_getaffinity(0))
    if not 1 <= count <= len(allowed):
        raise ValueError(f"cannot pin to {count} core(s): {len(allowed)} available")
    cores = allowed[:count]
    os.sched_setaffinity(0, cores)
    return cores
