"""Whether a re-fitted head earns its promotion, camera by camera.

A candidate is compared with the head that decides now (both blended with the zero-shot models,
as they decide) on what each camera's owner and scenes say, never on what it was fitted on:

- **held-out labelled crops**: for every class the owner labelled on a camera (hens, predators,
  nothing), the candidate must get at least as many right as the running head;
- **held-out empty scenes**: it must not call predator a single empty crop the running head did
  not (no new false alarm), whatever it gains elsewhere;
- **its shadow answers** (live crops it scored as a shadow, from the event log): every crop on
  which it would have decided otherwise is shown; one it would have called predator where the
  appliance did not, and the owner did not say predator, is a new false alarm and refuses it; so
  is a predator the owner confirmed that it would have missed.

Anything else keeps it a shadow, with the reasons; with nothing held out to judge it on, it is
not promoted either ("not enough to judge").

Example::

    verdict = judge([compare_camera("coop", held, running, candidate)], shadow=[...])
    verdict.promote, verdict.reasons
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.learn.examples import OWNER, Example

LABELS = ("chicken", "predator", "background")


@dataclass(frozen=True, slots=True)
class Disagreement:
    """One crop on which the candidate would decide otherwise than the running head."""

    camera: str
    source: str
    truth: str  # the owner's label, "empty" for a scene crop, "" when nobody said
    running: str
    candidate: str

    @property
    def new_false_alarm(self) -> bool:
        """The candidate says predator where the running head did not and nobody said so."""
        return (self.candidate == "predator" and self.running != "predator"
                and self.truth != "predator")

    @property
    def lost_predator(self) -> bool:
        """A predator the owner confirmed, that the running head found and the candidate not."""
        return (self.truth == "predator" and self.running == "predator"
                and self.candidate != "predator")

    def to_dict(self) -> dict[str, str]:
        """For the record and ``--json``."""
        return {"camera": self.camera, "source": self.source, "truth": self.truth,
                "running": self.running, "candidate": self.candidate}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Disagreement:
        """The inverse of :meth:`to_dict`."""
        return cls(data["camera"], data["source"], data["truth"], data["running"],
                   data["candidate"])


@dataclass(frozen=True, slots=True)
class CameraComparison:
    """One camera's held-out figures for the running head and the candidate."""

    camera: str
    # label -> [held out, right by the running head, right by the candidate]
    labelled: dict[str, list[int]]
    empty: int
    empty_alarms_running: int
    empty_alarms_candidate: int
    disagreements: list[Disagreement] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """For the record, ``doctor`` and ``--json``."""
        return {
            "camera": self.camera,
            "labelled": {k: {"n": v[0], "running": v[1], "candidate": v[2]}
                         for k, v in self.labelled.items()},
            "empty": {"n": self.empty, "running_alarms": self.empty_alarms_running,
                      "candidate_alarms": self.empty_alarms_candidate},
            "disagreements": [d.to_dict() for d in self.disagreements],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CameraComparison:
        """The inverse of :meth:`to_dict` (the record keeps comparisons as JSON)."""
        return cls(
            data["camera"],
            {k: [v["n"], v["running"], v["candidate"]] for k, v in data["labelled"].items()},
            data["empty"]["n"], data["empty"]["running_alarms"],
            data["empty"]["candidate_alarms"],
            [Disagreement.from_dict(d) for d in data["disagreements"]],
        )


def compare_camera(camera: str, held: Sequence[Example], running: Sequence[str],
                   candidate: Sequence[str]) -> CameraComparison:
    """Figures of ``camera``'s held-out examples, with each head's verdict on each."""
    labelled: dict[str, list[int]] = {}
    empty = alarms_running = alarms_candidate = 0
    disagreements = []
    for e, r, c in zip(held, running, candidate, strict=True):
        if e.kind == OWNER:
            counts = labelled.setdefault(e.label, [0, 0, 0])
            counts[0] += 1
            counts[1] += r == e.label
            counts[2] += c == e.label
        else:
            empty += 1
            alarms_running += r == "predator"
            alarms_candidate += c == "predator"
        if r != c:
            truth = e.label if e.kind == OWNER else "empty"
            disagreements.append(Disagreement(camera, e.path.name, truth, r, c))
    return CameraComparison(camera, labelled, empty, alarms_running, alarms_candidate,
                            disagreements)


@dataclass(frozen=True, slots=True)
class Judgement:
    """Promote or not, and why."""

    promote: bool
    reasons: list[str]
    cameras: list[CameraComparison]
    shadow: list[Disagreement]

    def to_dict(self) -> dict[str, Any]:
        """For the record and ``--json``."""
        return {"promote": self.promote, "reasons": self.reasons,
                "cameras": [c.to_dict() for c in self.cameras],
                "shadow_disagreements": [d.to_dict() for d in self.shadow]}


def judge(cameras: Sequence[CameraComparison], shadow: Sequence[Disagreement] = ()
          ) -> Judgement:
    """Apply the rules of the module docstring."""
    reasons = []
    judged = False
    for c in cameras:
        for label, (n, running, candidate) in sorted(c.labelled.items()):
            judged = judged or n > 0
            if candidate < running:
                reasons.append(f"{c.camera}: worse on the owner's {label} crops ({candidate} "
                               f"of {n} right, the running head {running})")
        judged = judged or c.empty > 0
        new = [d for d in c.disagreements if d.truth == "empty" and d.new_false_alarm]
        if new:
            reasons.append(f"{c.camera}: {len(new)} new false alarm(s) on {c.empty} held-out "
                           f"empty scenes ({', '.join(d.source for d in new[:3])})")
    for d in shadow:
        if d.new_false_alarm:
            reasons.append(f"{d.camera}: as a shadow it called predator what the appliance did "
                           f"not ({d.source}, owner: {d.truth or 'no label'})")
        elif d.lost_predator:
            reasons.append(f"{d.camera}: as a shadow it missed a predator the owner confirmed "
                           f"({d.source})")
    if not judged:
        reasons.append("not enough to judge: no held-out empty scenes or labelled crops yet")
    return Judgement(not reasons, reasons, list(cameras), list(shadow))
