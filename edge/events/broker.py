"""A throwaway Mosquitto broker on a free loopback port, for tests and benchmarks.

It runs the real ``mosquitto`` binary (Debian package ``mosquitto``) with its own config in a
temporary folder, with persistence on (saved every second), so that a broker killed with
SIGKILL and started again keeps the sessions and subscriptions it had saved, like a broker
restarted by systemd.

Example::

    with MosquittoBroker(tmp_path) as broker:
        cfg = MqttConfig(enabled=True, host=broker.host, port=broker.port)
        broker.kill(); broker.start()

A farm's broker with per-appliance users and the README's ACL::

    MosquittoBroker(folder, users={"coop-a": "...", "owner": "..."}, acl=FARM_ACL)
"""

from __future__ import annotations

import getpass
import logging
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"


def mosquitto_binary() -> str | None:
    """The mosquitto executable, or None when it is not installed."""
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
        None)


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class MosquittoBroker:
    """One mosquitto process; :meth:`kill` and :meth:`start` again keep the same port."""

    def __init__(self, folder: Path, *, port: int | None = None,
                 users: dict[str, str] | None = None, acl: str | None = None,
                 extra: str = "") -> None:
        """``users`` (name: password) turns anonymous access off; ``acl`` is the text of an
        ``acl_file``; ``extra`` is more configuration (a bridge, say)."""
        binary = mosquitto_binary()
        if binary is None:
            raise FileNotFoundError("mosquitto is not installed (apt-get install mosquitto)")
        self.binary = binary
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host = HOST
        self.port = port or free_port()
        self.config = self.folder / "mosquitto.conf"
        access = "allow_anonymous true\n"
        if users:
            access = f"allow_anonymous false\npassword_file {self._password_file(users)}\n"
        if acl is not None:
            (self.folder / "acl").write_text(acl)
            access += f"acl_file {self.folder / 'acl'}\n"
        self.config.write_text(
            # Run as us: as root, mosquitto would switch to its own user and not read our files.
            f"user {getpass.getuser()}\nlistener {self.port} {HOST}\n{access}"
            f"persistence true\npersistence_location {self.folder}/\nautosave_interval 1\n"
            f"log_dest file {self.folder}/mosquitto.log\n{extra}")
        self.process: subprocess.Popen[bytes] | None = None

    def _password_file(self, users: dict[str, str]) -> Path:
        path = self.folder / "passwords"
        path.write_text("")
        for user, password in users.items():
            subprocess.run(["mosquitto_passwd", "-b", str(path), user, password], check=True,
                           capture_output=True)
        path.chmod(0o600)
        return path

    def start(self, timeout_s: float = 10.0) -> None:
        """Start mosquitto and wait until it accepts connections."""
        self.process = subprocess.Popen([self.binary, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.process.returncode}; see "
                                   f"{self.folder}/mosquitto.log")
            try:
                socket.create_connection((self.host, self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError(f"mosquitto did not listen on {self.host}:{self.port}")

    def kill(self) -> None:
        """SIGKILL the broker (no clean shutdown) and wait for it."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """Terminate the broker cleanly."""
        self._signal(signal.SIGTERM)

    def _signal(self, sig: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)
        self.process = None

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
