"""The rendezvous on real models: deadline, slow and poor shadows, the canary alarm, swaps."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from classifier.canary import CanaryStatus
from classifier.registry import ModelRegistry
from classifier.rendezvous import Rendezvous, SwapError
from edge.event import Event
from edge.events.log import EventLog
from edge.events.recorder import Recorder
from tests.rendezvous.conftest import uses

TINY = "mobilenet_v1_025_imagenet"  # fast and poor
V2 = "mobilenet_v2_imagenet"
TF2 = "tf2_mobilenet_v2_imagenet"  # the same network, another quantisation: a trusted canary
V1 = "mobilenet_v1_075_imagenet"

Photos = list[tuple[np.ndarray, str]]


def _event(ticket_scores: dict[str, Any]) -> Event:
    return Event(camera="coop", start_time=time.time(), end_time=time.time(), verdict="predator",
                 label="x", score=1.0, scores=dict(ticket_scores), decision={"rule": "test"})


def test_stalled_critical_model_misses_the_deadline_the_fast_one_decides_the_late_one_is_logged(
    loader: Callable[..., Any], photos: Photos, tmp_path: Path
) -> None:
    cfg = uses((TINY, "primary"), (V2, "critical"), deadline_ms=80, join_wait_ms=6000)
    with Rendezvous(cfg, loader({V2: 1e-6})) as rendezvous:
        # Warmed up at its own pace, then it stalls: 2 s, far beyond that pace.
        rendezvous.plan.loaded[V2].model.delay_s = 2.0
        answer = rendezvous.classify(photos[1][0])
        assert answer.late == (V2,) and answer.decided_by == TINY and list(answer.models) == [TINY]
        # The event, written once by the recorder, still gets the late answer.
        log = EventLog(tmp_path / "events.sqlite3")
        with Recorder(log, None, complete=rendezvous.late_answers) as recorder:
            recorder.submit(_event({TINY: {"verdict": answer.verdict.value}}), None, {},
                            ticket=answer.ticket)
        [logged] = log.list()
        log.close()
    assert logged.scores[V2]["role"] == "late" and logged.scores[V2]["verdict"] in (
        "predator", "chicken", "background")
    assert logged.decision["late"] == [V2] and "missing" not in logged.decision


def test_a_critical_model_slower_than_the_deadline_on_this_board_is_waited_for(
    loader: Callable[..., Any], photos: Photos
) -> None:
    # Always 300 ms on this "board", 80 ms configured: its pace, measured at the warm-up,
    # is what the decision waits for, so the slow model's answer counts on every crop.
    cfg = uses((TINY, "primary"), (V2, "critical"), deadline_ms=80)
    with Rendezvous(cfg, loader({V2: 0.3})) as rendezvous:
        answers = [rendezvous.classify(rgb) for rgb, _ in photos[:3]]
        figures = next(m for m in rendezvous.status()["models"] if m["name"] == V2)
    assert [a.late for a in answers] == [(), (), ()]
    assert all(V2 in a.models for a in answers)
    assert figures["late"] == 0 and figures["pace_ms"] >= 300


def test_in_time_critical_model_outranks_the_fast_primary(
    loader: Callable[..., Any], photos: Photos
) -> None:
    cfg = uses((TINY, "primary"), (V2, "critical"), deadline_ms=5000)
    with Rendezvous(cfg, loader()) as rendezvous:
        answers = [rendezvous.classify(rgb) for rgb, _ in photos[:6]]
    assert all(a.late == () and set(a.models) == {TINY, V2} for a in answers)
    assert all(a.decided_by == V2 for a in answers)  # the priority model, not the fast one


def _critical_ms(rendezvous: Rendezvous, photos: Photos) -> list[float]:
    times = []
    for rgb, _ in photos:
        started = time.perf_counter()
        rendezvous.classify(rgb)
        times.append((time.perf_counter() - started) * 1000.0)
    return times


def test_slow_shadow_skips_and_counts_and_never_holds_the_decision(
    loader: Callable[..., Any], photos: Photos
) -> None:
    cfg = uses((V2, "primary"), (V1, "shadow"), shadow_queue=2, join_wait_ms=0)
    with Rendezvous(cfg, loader({V1: 0.5})) as rendezvous:
        # Warmed up at 500 ms, then it stalls until released: however loaded the machine, the
        # shadow holds one crop and queues two, so the others are skipped.
        stalled = rendezvous.plan.loaded[V1].model
        stalled.delay_s = 120.0
        try:
            times = _critical_ms(rendezvous, photos[:12])
            shadow = next(m for m in rendezvous.status()["models"] if m["name"] == V1)
            assert shadow["skipped"] >= 12 - 3 and shadow["scored"] == 0
            late = rendezvous.join(rendezvous.classify(photos[0][0]).ticket, wait_s=0)
            assert late is not None and V1 in late.skipped
        finally:
            stalled.release()
    # The decision never waited for the stalled shadow (a loose bound: no speed claim).
    assert statistics.median(times) < 5000, times


def _feed(rendezvous: Rendezvous, photos: Photos) -> None:
    """Classify each photo and let the off-path workers finish it (so none is skipped)."""
    pause = threading.Event()
    for rgb, _ in photos:
        rendezvous.classify(rgb)
        for _, _, worker in rendezvous.plan.off_path:
            while worker.backlog:
                pause.wait(0.005)


def test_poor_shadow_disagrees_with_the_canary_and_promoting_it_fires_the_alarm(
    loader: Callable[..., Any], photos: Photos, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base = uses((V2, "primary"), (TINY, "shadow"), (TF2, "canary"), shadow_queue=64,
                canary_window=40, canary_min_samples=20, canary_max_disagreement=0.15)
    registry = ModelRegistry(tmp_path, base)
    alarms: list[CanaryStatus] = []
    with Rendezvous(registry.effective(), loader()) as rendezvous:
        rendezvous.canary.listeners.append(alarms.append)
        _feed(rendezvous, photos[:40])
        figures = {m["name"]: m for m in rendezvous.status()["models"]}
        assert figures[V2]["agreement_with_canary"] >= 0.85 and not alarms
        assert figures[TINY]["agreement_with_canary"] < figures[V2]["agreement_with_canary"]
        registry.promote(TINY)
        rendezvous.swap(registry.effective())
        _feed(rendezvous, photos[:40])
        status = rendezvous.canary.status()
    assert alarms and alarms[0].alarm and alarms[0].primary == TINY
    assert status.rate > 0.15 and status.compared >= 20
    assert "canary alarm: primary mobilenet_v1_025_imagenet disagrees" in caplog.text


def _v1_broken(load: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``load``, but V1 answers NaN (so it fails its warm-up check)."""

    def broken(use: Any) -> Any:
        model = load(use)
        if use.name == V1:
            model.probabilities = lambda rgb: (np.full(1001, np.nan, np.float32), 1.0)
        return model

    return broken


def test_a_model_that_fails_to_warm_up_leaves_the_running_one(
    loader: Callable[..., Any], photos: Photos
) -> None:
    with Rendezvous(uses((V2, "primary")), _v1_broken(loader())) as rendezvous:
        with pytest.raises(SwapError, match=r"model mobilenet_v1_075_imagenet: .*not probabilities"
                           r".*still running mobilenet_v2_imagenet"):
            rendezvous.swap(uses((V1, "primary"), (V2, "shadow")))
        assert rendezvous.plan.primary == V2 and rendezvous.classify(photos[0][0]).models
        assert "still running" in (rendezvous.status()["last_error"] or "")


def test_a_critical_model_keeps_deciding_until_the_swap_that_moves_it_is_done(
    loader: Callable[..., Any], photos: Photos
) -> None:
    with Rendezvous(uses((V2, "primary"), (TINY, "critical")), _v1_broken(loader())) as rendezvous:
        # The swap would move TINY off the critical path, then fails on V1: TINY must still
        # answer on every crop, not be "busy" with a worker the refused swap closed.
        with pytest.raises(SwapError):
            rendezvous.swap(uses((V2, "primary"), (TINY, "shadow"), (V1, "critical")))
        answers = [rendezvous.classify(rgb) for rgb, _ in photos[:5]]
    assert all(TINY in a.models and not a.busy for a in answers)


def test_a_crop_decided_before_a_swap_never_lands_on_the_new_plans_worker(
    loader: Callable[..., Any], photos: Photos
) -> None:
    with Rendezvous(uses((V2, "primary"), (TINY, "shadow")), loader({V2: 0.5})) as rendezvous:
        before = threading.Thread(target=rendezvous.classify, args=(photos[0][0],))
        before.start()
        time.sleep(0.1)  # the old plan is deciding this crop, TINY still a shadow there
        rendezvous.swap(uses((V2, "primary"), (TINY, "critical")))
        before.join()
        # The old plan's shadow job went to TINY's old (off-path) worker, not to the one-crop
        # critical worker, which the first crop of the new plan finds free.
        assert rendezvous.plan.loaded[TINY].worker.offered == 0
        rendezvous.plan.loaded[V2].model.delay_s = 0.0
        answer = rendezvous.classify(photos[1][0])
    assert TINY in answer.models and not answer.busy


def test_swap_keeps_the_previous_primary_loaded_for_an_instant_rollback(
    loader: Callable[..., Any], photos: Photos
) -> None:
    with Rendezvous(uses((V2, "primary")), loader()) as rendezvous:
        report = rendezvous.swap(uses((TINY, "primary")))
        assert report.loaded == (TINY,) and report.released == ()  # V2 stays, on standby
        roles = {m["name"]: m["role"] for m in rendezvous.status()["models"]}
        assert roles == {V2: "standby", TINY: "primary"}
        back = rendezvous.swap(uses((V2, "primary")))
        assert back.loaded == () and rendezvous.classify(photos[0][0]).decided_by == V2


class Gated:
    """A real model whose next picture waits at a gate once :meth:`hold` is called."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.entered = threading.Event()
        self.gate = threading.Event()
        self.gate.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def hold(self) -> None:
        """Stop the next call at the gate (and signal ``entered`` when it gets there)."""
        self.entered.clear()
        self.gate.clear()

    def probabilities(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        self.entered.set()
        self.gate.wait()
        return self._model.probabilities(rgb)


def test_a_swap_that_drops_a_critical_model_mid_classify_does_not_break_that_classify(
    loader: Callable[..., Any], photos: Photos
) -> None:
    load = loader()
    gated: dict[str, Gated] = {}

    def gate_primary(use: Any) -> Any:
        model = load(use)
        if use.name == TINY:
            gated[TINY] = Gated(model)
            return gated[TINY]
        return model

    cfg = uses((TINY, "primary"), (V2, "critical"), (V1, "shadow"), deadline_ms=30000)
    with Rendezvous(cfg, gate_primary) as rendezvous:
        gated[TINY].hold()
        answers: list[Any] = []
        errors: list[BaseException] = []

        def classify() -> None:
            try:
                answers.append(rendezvous.classify(photos[1][0]))
            except BaseException as exc:  # the test reports it below
                errors.append(exc)

        worker = threading.Thread(target=classify)
        worker.start()
        assert gated[TINY].entered.wait(30)  # the classify is in flight on the old plan
        report = rendezvous.swap(uses((TINY, "primary")))  # drops the critical and the shadow
        assert set(report.released) == {V2, V1}
        gated[TINY].gate.set()
        worker.join(30)
        assert not errors, errors
        [answer] = answers
        assert set(answer.models) == {TINY, V2}  # the old plan's critical model answered
        assert rendezvous.classify(photos[0][0]).models.keys() == {TINY}
