"""The canary alarm: raised and lowered on the watched model's agreement, and lowered (with the
listeners told) when a swap starts a fresh window."""

from __future__ import annotations

import random

from classifier.canary import LOWER_BELOW, CanaryMonitor, CanaryStatus


def test_a_fresh_window_lowers_a_raised_alarm_and_says_so() -> None:
    monitor = CanaryMonitor(window=10, min_samples=4, max_rate=0.2, clock=lambda: 1000.0)
    heard: list[CanaryStatus] = []
    monitor.listeners.append(heard.append)
    monitor.reset("primary", "canary")
    for _ in range(5):
        monitor.observe("primary", agrees=False)
    assert [(s.primary, s.alarm) for s in heard] == [("primary", True)]
    monitor.reset("primary+coop-1", "canary")  # a head joined: what decides changed
    assert [(s.primary, s.alarm) for s in heard] == [("primary", True), ("primary+coop-1", False)]
    monitor.reset("primary+coop-1", "canary")  # nothing changed: nothing to say
    for _ in range(5):
        monitor.observe("primary+coop-1", agrees=True)
    assert len(heard) == 2 and not monitor.status().alarm


def test_a_rate_hovering_at_the_limit_does_not_flap() -> None:
    # The primary disagrees with the canary on about a fifth of the crops, the limit being a
    # fifth: without hysteresis each crossing of 20% raised or lowered the alarm (27 times).
    rng = random.Random(0)
    monitor = CanaryMonitor(window=50, min_samples=10, max_rate=0.2, clock=lambda: 1000.0)
    heard: list[CanaryStatus] = []
    monitor.listeners.append(heard.append)
    monitor.reset("primary", "canary")
    within = 0
    for _ in range(500):
        monitor.observe("primary", agrees=rng.random() >= 0.2)
        within = within + 1 if monitor.status().rate <= 0.2 else 0
        if heard and not heard[-1].alarm and heard[-1] is not heard[0]:
            # Lowered only clearly below the limit, or after a whole window within it.
            assert heard[-1].rate <= 0.2 * LOWER_BELOW or within >= 50
    assert heard[0].alarm and len(heard) <= 6


def test_a_raised_alarm_is_lowered_once_clearly_below_the_limit() -> None:
    monitor = CanaryMonitor(window=20, min_samples=10, max_rate=0.2, clock=lambda: 1000.0)
    heard: list[CanaryStatus] = []
    monitor.listeners.append(heard.append)
    monitor.reset("primary", "canary")
    for agrees in [False] * 5 + [True] * 5:  # 50%: raised at the tenth crop
        monitor.observe("primary", agrees)
    assert [s.alarm for s in heard] == [True]
    for _ in range(11):  # ... 5 of 20, then 4 of 20 (20%: at the limit, not below it)
        monitor.observe("primary", True)
    assert [s.alarm for s in heard] == [True]
    monitor.observe("primary", True)  # 3 of 20 = 15%: clearly below
    assert [s.alarm for s in heard] == [True, False]
