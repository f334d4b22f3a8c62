"""The canary alarm: raised and lowered on the watched model's agreement, and lowered (with the
listeners told) when a swap starts a fresh window."""

from __future__ import annotations

from classifier.canary import CanaryMonitor, CanaryStatus


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
