"""The decider: whether a classified frame fires the deterrents, which ones, and why.

A frame counts towards a firing when the classifier's verdict is ``predator`` (its own
``models.predator_threshold``): the decider has no threshold of its own, so every "predator"
event is one it counted. For every classified frame, in this order (the first rule that holds
gives :attr:`Decision.rule`):

- ``no_predator``: the frame's verdict is not predator;
- ``unconfirmed``: fewer than ``confirm_n`` of this camera's last ``confirm_m`` frames, within
  ``window_s``, were called predator;
- ``disarmed``: confirmed, but firing is switched off (config, command line or MQTT);
- ``cooldown``: confirmed, but the last firing was less than ``cooldown_s`` ago;
- ``held``: confirmed, but every deterrent is vetoed (a chicken in view) or silenced (quiet hours);
- ``confirmed``: fire the remaining deterrents.

The cooldown starts when the pipeline reports, with :meth:`Decider.fired`, that a firing really
switched something on: a confirmation that the deterrent bank refused entirely (every device
resting) starts none, and the pipeline records it as ``refused``.

The chicken veto looks at the highest chicken score of the same frames the confirmation counted,
not only the current one: a hen seen a moment ago is very likely still there. When a frame has
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


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one frame: fire ``devices`` or not, the ``rule`` that decided, and why."""

    fire: bool
    devices: tuple[str, ...]
    rule: str
    reason: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Seen:
    at: float
    predator: bool  # the classifier's verdict
    chicken: float  # the highest chicken score of the frame's regions


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
        self._seen: dict[str, deque[_Seen]] = {}
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
            chicken = max([c.chicken_score, *(o.chicken_score for o in elsewhere)])
            seen = _Seen(now, c.verdict is Verdict.PREDATOR, chicken)
            recent = self._remember(camera, seen, now)
            reason = self._reason(camera, c, recent)
            rule = self._blocking_rule(seen.predator, reason, now)
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

    def _remember(self, camera: str, seen: _Seen, now: float) -> list[_Seen]:
        frames = self._seen.setdefault(camera, deque(maxlen=self._cfg.confirm_m))
        frames.append(seen)
        return [f for f in frames if now - f.at <= self._cfg.window_s]

    def _reason(self, camera: str, c: Classification, recent: list[_Seen]) -> dict[str, Any]:
        cfg = self._cfg
        return {
            "camera": camera, "verdict": c.verdict.value, "label": c.label,
            "decided_by": c.decided_by,
            "predator_score": round(c.predator_score, 4),
            "chicken_score": round(c.chicken_score, 4),
            "hits": sum(f.predator for f in recent),
            "confirm": f"{cfg.confirm_n} of {cfg.confirm_m} in {cfg.window_s:g} s",
            "chicken_max": max(f.chicken for f in recent),
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
        vetoed = self._vetoable if reason["chicken_max"] >= self._cfg.chicken_veto else frozenset()
        quiet = self._cfg.is_quiet(self._local_time())
        silenced = self._quiet if quiet else frozenset()
        reason |= {"quiet_hours": quiet, "vetoed": sorted(vetoed), "silenced": sorted(silenced)}
        return tuple(n for n in self._all if n not in vetoed and n not in silenced)
