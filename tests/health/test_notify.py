"""Notifier against a real AF_UNIX datagram listener, as systemd's manager would hold it."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.health.notify import Notifier, watchdog_interval


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _listen(address: str | bytes) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(2.0)
    return sock


def _drain(sock: socket.socket) -> list[str]:
    """Every datagram waiting on the listener, without waiting for more."""
    sock.setblocking(False)
    messages = []
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except BlockingIOError:
        pass
    finally:
        sock.settimeout(2.0)
    return messages


@pytest.fixture()
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    sock = _listen(path)
    yield path, sock
    sock.close()


def test_ready_status_and_stopping_reach_the_socket(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    with Notifier(path, environ={}) as notifier:
        assert notifier.enabled
        notifier.ready(status="watching coop")
        assert sock.recv(4096) == b"READY=1\nSTATUS=watching coop"
        notifier.status("two\nlines")
        assert sock.recv(4096) == b"STATUS=two lines"
        notifier.stopping()
        assert sock.recv(4096) == b"STOPPING=1"
        notifier.extend_timeout(90)
        assert sock.recv(4096) == b"EXTEND_TIMEOUT_USEC=90000000"


def test_socket_comes_from_the_environment(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    Notifier(environ={"NOTIFY_SOCKET": path}).ready()
    assert sock.recv(4096) == b"READY=1"


def test_abstract_socket_name() -> None:
    name = f"tensorchicken-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    sock = _listen(b"\0" + name.encode())
    try:
        Notifier(environ={"NOTIFY_SOCKET": "@" + name}).ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_watchdog_is_rate_limited_to_a_quarter_interval(
    listener: tuple[str, socket.socket],
) -> None:
    path, sock = listener
    clock = FakeClock()
    env = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}
    notifier = Notifier(path, environ=env, clock=clock)
    assert notifier.watchdog_interval_s == 4.0
    sent_at = []
    for step in range(40):  # 40 frames, 0.1 s apart: pings at 0, 1, 2, 3 s
        clock.now = 100.0 + step * 0.1
        before = len(_drain(sock))
        assert before == 0
        notifier.watchdog()
        got = _drain(sock)
        assert got in ([], ["WATCHDOG=1"])
        if got:
            sent_at.append(round(clock.now - 100.0, 1))
    assert sent_at == [0.0, 1.0, 2.0, 3.0]


def test_no_watchdog_for_another_process(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    env = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    notifier = Notifier(path, environ=env)
    assert notifier.watchdog_interval_s is None
    notifier.watchdog()
    notifier.ready()
    assert _drain(sock) == ["READY=1"]


def test_no_watchdog_without_watchdogsec(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = Notifier(path, environ={})
    notifier.watchdog()
    assert notifier.watchdog_interval_s is None
    assert _drain(sock) == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "junk"}, None),
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"}, None),
    ],
)
def test_watchdog_interval_from_environment(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval(env, pid=42) == expected


def test_without_notify_socket_everything_is_a_no_op(tmp_path: Path) -> None:
    notifier = Notifier(environ={"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None
    notifier.ready()
    notifier.watchdog()
    notifier.status("x")
    notifier.stopping()
    assert list(tmp_path.iterdir()) == []


def test_a_vanished_manager_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(str(tmp_path / "gone.sock"), environ={})
    notifier.ready()
    assert "cannot notify systemd" in caplog.text
