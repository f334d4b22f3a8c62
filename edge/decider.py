"""The decider: whether a classified frame fires the deterrents, which ones, and why.

Decisions are taken on the visit, not on lone frames. A visit is one camera's motion episode
(it ends when the pipeline calls :meth:`Decider.end_visit`, after ``quiet_s`` without motion),
and confirmation is stated in the visit's *classified frames*, never in seconds: on a board
where one inference takes a second, two predator frames of the visit confirm as surely as on a
fast one, only later. A frame counts towards a firing when the classifier's verdict is
``predator`` (its own ``models.predator_threshold``): the decider has no threshold of its own, so
every "predator" event is one it counted. For every classified frame, in this order (the first
rule that holds gives :attr:`Decision.rule`):

- ``no_predator``: the frame's verdict is not predator;
- ``unconfirmed``: fewer than ``confirm_n`` of the visit's last ``confirm_m`` classified frames
  were called predator;
- ``disarmed``: confirmed, but firing is switched off (config, command line or MQTT);
- ``cooldown``: confirmed, but the last firing was less than ``cooldown_s`` ago;
- ``held``: confirmed, but every deterrent is vetoed (a chicken in view) or silenced (quiet hours);
- ``confirmed``: fire the remaining deterrents.

The cooldown starts when the pipeline reports, with :meth:`Decider.fired`, that a firing really
switched something on: a confirmation that the deterrent bank refused entirely (every device
resting) starts none, and the pipeline records it as ``refused``.

The chicken veto looks at the highest chicken score of every classified frame of the visit, not
only the current one: a hen seen earlier in the visit is very likely still there. When a frame has
several moving regions, each classified apart, the decision is taken on the most predator-like
one and the others' chicken scores count for the veto too. Every decision carries the numbers
behind it in :attr:`Decision.reason`, for the event log. Why the defaults are what they are is
explained in :mod:`edge.config.decision`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import time as dtime
from typing import Any

from actuators.config import KINDS, DeterrentConfig
from classifier.verdict import Classification, Verdict
from edge.config import ConfigError
from edge.config.decision import DecisionConfig

log = logging.getLogger(__name__)

# The rules that leave a visit unconfirmed; every other rule means "confirmed, and then...".
_UNCONFIRMED = frozenset({"no_predator", "unconfirmed"})


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one frame: fire ``devices`` or not, the ``rule`` that decided, and why."""

    fire: bool
    devices: tuple[str, ...]
    rule: str
    reason: dict[str, Any]

    @property
    def confirmed(self) -> bool:
        """Whether the visit was confirmed as a predator's when this frame was decided (it fired,
        or would have but for arming, the cooldown, the veto or quiet hours)."""
        return self.rule not in _UNCONFIRMED


@dataclass(slots=True)
class _Visit:
    """What the decider remembers of one camera's current visit."""

    predator: deque[bool]  # the classifier's verdict on the last ``confirm_m`` classified frames
    frames: int = 0  # classified frames of the visit so far
    chicken_max: float = 0.0  # the highest chicken score of any region of any of them


def quiet_names(cfg: DecisionConfig, deterrents: Sequence[DeterrentConfig]) -> tuple[str, ...]:
    """The deterrents that ``quiet_devices`` names, by name or by kind.

    Raises :class:`ConfigError` for an entry that is neither a kind nor a deterrent's name: a
    typo there would leave a siren sounding at night.
    """
    known = set(KINDS) | {d.name for d in deterrents}
    unknown = [q for q in cfg.quiet_devices if q not in known]
    if unknown:
        raise ConfigError("decision", [
            f"decision.quiet_devices: {', '.join(map(repr, unknown))} is neither a deterrent "
            f"kind ({', '.join(KINDS)}) nor a name ({', '.join(d.name for d in deterrents)})"
        ])
    return tuple(d.name for d in deterrents if d.name in cfg.quiet_devices
                 or d.kind in cfg.quiet_devices)


class Decider:
    """Turns classifications into decisions. ``decide`` may be called from several camera loops
    and ``set_armed`` from the MQTT thread: one lock keeps the state consistent."""

    def __init__(self, cfg: DecisionConfig, deterrents: Sequence[DeterrentConfig], *,
                 clock: Callable[[], float] = time.monotonic,
                 local_time: Callable[[], dtime] = lambda: datetime.now().time()) -> None:
        self._cfg = cfg
        self._clock = clock
        self._local_time = local_time
        self._all = tuple(d.name for d in deterrents)
        self._vetoable = frozenset(d.name for d in deterrents if d.chicken_veto)
        self._quiet = frozenset(quiet_names(cfg, deterrents))
        self._armed = cfg.armed
        # Told of every set_armed (armed, source): the appliance keeps the owner's commands.
        self.listeners: list[Callable[[bool, str], None]] = []
        self._last_fire: float | None = None
        self._visits: dict[str, _Visit] = {}
        self._lock = threading.Lock()

    @property
    def armed(self) -> bool:
        """Whether a confirmed predator fires anything."""
        return self._armed

    def set_armed(self, armed: bool, source: str) -> None:
        """Arm or disarm; ``source`` ("config", "command line", "mqtt") goes into the log."""
        with self._lock:
            was, self._armed = self._armed, bool(armed)
        state = "armed" if armed else "disarmed"
        if was != armed:
            log.warning("deterrents %s by %s", state, source)
        else:
            log.info("deterrents stay %s (%s)", state, source)
        for listener in list(self.listeners):
            listener(bool(armed), source)

    def decide(
        self, camera: str, c: Classification, *, elsewhere: Sequence[Classification] = ()
    ) -> Decision:
        """The decision for one classified frame of ``camera``.

        ``c`` is the answer the decision is taken on; ``elsewhere`` holds the answers for the
        frame's other moving regions, whose chicken scores count for the veto."""
        with self._lock:
            now = self._clock()
            predator = c.verdict is Verdict.PREDATOR
            visit = self._remember(camera, c, predator, elsewhere)
            reason = self._reason(camera, c, visit)
            rule = self._blocking_rule(predator, reason, now)
            if rule:
                return Decision(False, (), rule, reason)
            devices = self._devices(reason)
            if not devices:
                return Decision(False, (), "held", reason)
            return Decision(True, devices, "confirmed", reason)

    def fired(self, camera: str, devices: Sequence[str]) -> None:
        """What a ``confirmed`` decision switched on; the cooldown starts only if anything did.

        The cooldown is shared by every camera: the devices are."""
        if not devices:
            log.debug("camera %s: confirmed, but nothing fired: no cooldown", camera)
            return
        with self._lock:
            self._last_fire = self._clock()

    def end_visit(self, camera: str) -> None:
        """``camera``'s visit is over (no motion for ``quiet_s``): its frames count no more."""
        with self._lock:
            self._visits.pop(camera, None)

    def _remember(
        self, camera: str, c: Classification, predator: bool, elsewhere: Sequence[Classification]
    ) -> _Visit:
        visit = self._visits.get(camera)
        if visit is None:
            visit = self._visits[camera] = _Visit(deque(maxlen=self._cfg.confirm_m))
        visit.predator.append(predator)
        visit.frames += 1
        visit.chicken_max = max(visit.chicken_max, c.chicken_score,
                                *(o.chicken_score for o in elsewhere))
        return visit

    def _reason(self, camera: str, c: Classification, visit: _Visit) -> dict[str, Any]:
        cfg = self._cfg
        return {
            "camera": camera, "verdict": c.verdict.value, "label": c.label,
            "decided_by": c.decided_by,
            "predator_score": round(c.predator_score, 4),
            "chicken_score": round(c.chicken_score, 4),
            "hits": sum(visit.predator),
            "confirm": f"{cfg.confirm_n} of the visit's last {cfg.confirm_m} classified frames",
            "visit_frames": visit.frames,
            "chicken_max": round(visit.chicken_max, 4),
            "armed": self._armed,
        }

    def _blocking_rule(self, predator: bool, reason: dict[str, Any], now: float) -> str | None:
        cfg = self._cfg
        if not predator:
            return "no_predator"
        if reason["hits"] < cfg.confirm_n:
            return "unconfirmed"
        if not self._armed:
            return "disarmed"
        if self._last_fire is not None and now - self._last_fire < cfg.cooldown_s:
            reason["cooldown_left_s"] = round(cfg.cooldown_s - (now - self._last_fire), 2)
            return "cooldown"
        return None

    def _devices(self, reason: dict[str, Any]) -> tuple[str, ...]:
        hens_live_here = reason["camera"] in self._cfg.hens_live_in
        hen_seen = reason["chicken_max"] >= self._cfg.chicken_veto
        vetoed = self._vetoable if hen_seen or hens_live_here else frozenset()
        if hens_live_here:
            reason["hens_live_here"] = True
        quiet = self._cfg.is_quiet(self._local_time())
        silenced = self._quiet if quiet else frozenset()
        reason |= {"quiet_hours": quiet, "vetoed": sorted(vetoed), "silenced": sorted(silenced)}
        return tuple(n for n in self._all if n not in vetoed and n not in silenced)
