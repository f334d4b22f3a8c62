"""Wires the appliance together from a configuration. Only wiring lives here."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from actuators.bank import DeterrentBank, make_pin_factory
from camera.capture import Capture
from camera.config import CameraConfig
from camera.opening import open_source
from camera.source import FrameSource
from classifier.config import ModelsConfig
from classifier.errors import ModelError
from classifier.keeper import ModelKeeper
from classifier.registry import ModelRegistry, RegistryError
from classifier.rendezvous import Rendezvous, load_rendezvous, unloadable_off_path
from edge.arming import ArmingMemory
from edge.assets import AssetStore
from edge.clips import ClipRecorder, adopt_through
from edge.config import Config, ConfigError, load_config
from edge.decider import Decider
from edge.events.archive import Archive
from edge.events.identity import NodeIdentity, node_identity
from edge.events.log import EventLog
from edge.events.recorder import Recorder
from edge.events.reporters import start_reporters
from edge.health.appliance_metrics import ApplianceMetrics
from edge.health.metrics import MetricsServer
from edge.health.notify import Notifier, StartupExtender
from edge.health.status import status_line
from edge.health.summary import RunSummary
from edge.health.supervisor import Supervisor
from edge.latency import LatencyStats
from edge.learn.collector import SceneCollector
from edge.learn.metrics import watch_learning
from edge.learn.places import MotionPlaces
from edge.learn.record import LearnRecord
from edge.learn.scenes import SceneStore, scenes_dir
from edge.learn.schedule import NightlyRefit, learn_command
from edge.paths import default_state_dir, make_folder, runtime_dir
from edge.pipeline import CameraLoop, Parts
from edge.web.feed import LiveFeed

log = logging.getLogger(__name__)

# How a camera's frame source is made: open_source, or a wrapper (the latency benchmark's).
SourceFactory = Callable[[CameraConfig, Callable[[str], str]], FrameSource]


def _owner_only(folder: Path) -> None:
    """Take other users' access away from a state folder an older run left open (0755)."""
    info = folder.stat()
    mode = info.st_mode & 0o777
    if mode & 0o007 and info.st_uid == os.geteuid():
        log.warning("%s was readable by every user (%o): now 700", folder, mode)
        folder.chmod(0o700)



def models_to_run(registry: ModelRegistry, config: Config) -> ModelsConfig:
    """The configuration's models with the registry's run-time changes; the configuration's
    alone when the registry's file is damaged: the guard does not need it to start."""
    try:
        return registry.effective()
    except RegistryError as exc:
        log.error("%s; guarding with the configuration's models alone until it is repaired "
                  "('tensorchicken models reset' starts it afresh)", exc)
        return config.models


def load_guarding_models(cfg: ModelsConfig, store: AssetStore) -> Rendezvous:
    """The rendezvous of ``cfg``; without those of its shadow and canary models that cannot be
    loaded (they only score off the path, and the guard does not need them)."""
    try:
        return load_rendezvous(cfg, store)
    except ModelError:
        failed = unloadable_off_path(cfg, store)
        if not failed:
            raise  # a primary or critical model: the guard cannot decide without it
    for use, exc in failed:
        log.error("%s model %s cannot be loaded, and the guard runs without it: %s",
                  use.role, use.name, exc)
    left_out = [use for use, _ in failed]
    kept = [use for use in cfg.use if use not in left_out]
    return load_rendezvous(cfg.model_copy(update={"use": kept}), store)


class Appliance:
    """Every part of the appliance, built from one :class:`Config`.

    Build order matters for safety: the deterrent bank first (every pin off at start), then the
    models and cameras. Teardown turns the deterrents off before anything else.
    """

    def __init__(
        self,
        config: Config,
        store: AssetStore,
        *,
        pin_factory: Any = None,
        state_dir: Path | None = None,
        notifier: Notifier | None = None,
        armed: bool | None = None,
        source_factory: SourceFactory = open_source,
        config_path: Path | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self._source_factory = source_factory
        self.stop = threading.Event()
        self.stop_reason = ""
        self.notifier = notifier or Notifier()
        self.bank = DeterrentBank(
            config.gpio,
            pin_factory=pin_factory or make_pin_factory(config.gpio.pin_factory),
            hung_after_s=config.health.hung_after_s,
        )
        self.classifier: Any = None
        self.keeper: ModelKeeper | None = None
        self.event_log: Any = None
        self.recorder: Any = None
        self._problem: str | None = None  # why events are not kept (recorder.problem), as told
        self._standin_log: EventLog | None = None  # the reporters' while the log cannot open
        self.reporters: Any = None
        self.metrics_server: MetricsServer | None = None
        self.web: Any = None  # edge.web.server.WebServer, when web.address is set
        self.loops: list[CameraLoop] = []
        self.clip_recorders: list[ClipRecorder] = []
        self.scenes: SceneCollector | None = None
        self.nightly: NightlyRefit | None = None
        try:
            self._build(store, state_dir, armed)
        except BaseException:
            self.close()
            raise

    def _build(self, store: AssetStore, state_dir: Path | None, armed: bool | None) -> None:
        config = self.config
        state = (
            Path(config.paths.state_dir)
            if config.paths.state_dir
            else state_dir or default_state_dir()
        )
        make_folder(state, "the state folder (paths.state_dir)")
        _owner_only(state)
        guard = self._web_guard()  # before the models load: a refusal comes at once
        # The models run are the configuration's, with the run-time changes of the registry.
        registry = ModelRegistry(state, config.models)
        # A model missing on disk is fetched now: on a slow link that can outlast TimeoutStartSec.
        with StartupExtender(self.notifier, "loading models"):
            self.classifier = load_guarding_models(models_to_run(registry, config), store)
        self.keeper = ModelKeeper(
            self.classifier, registry, state, self.stop, reread=self._reread_models,
            runtime_dir=runtime_dir(),
        )
        self.decider = Decider(config.decision, config.gpio.deterrents)
        self._arm_at_start(state, armed)
        self.identity = self._identity(state)  # before the event log exists (see identity)
        archive_cfg = config.reporters.archive
        archive = Archive(state / "archive", archive_cfg) if archive_cfg.enabled else None
        events = state / "events.sqlite3"
        # A log that cannot be opened (a full disk) does not stop the guard: the recorder
        # holds the events in memory and opens it when space returns.
        self.recorder = Recorder(lambda: EventLog(events), archive,
                                 complete=self.classifier.late_answers)
        self.event_log = self.recorder.log
        self.latency = LatencyStats()
        self.metrics = ApplianceMetrics.create()
        self.supervisor = Supervisor(self.stop, self.notifier, self.bank.heartbeat,
                                     config.health.hung_after_s, self._status_line)
        self.live = LiveFeed() if config.web.address else None
        parts = Parts(
            self.classifier,
            self.decider,
            self.bank,
            self.recorder,
            self.latency,
            self.metrics,
            on_progress=self.supervisor.mark,
            scenes=self._scene_collector(state),
            live=self.live,
            outcome=config.outcome,
        )
        self.loops = [self._camera_loop(cam, store, parts, self._clips(cam, archive, state))
                      for cam in config.cameras]
        self.web = self._bind_web(state, guard)

    def _identity(self, state: Path) -> NodeIdentity:
        """Who this appliance is on the broker (configured, or kept in the state folder)."""
        try:
            return node_identity(self.config.reporters.mqtt, state)
        except ValueError as exc:
            raise ConfigError("reporters", [f"reporters.mqtt.node: {exc}"]) from None

    def _health(self) -> dict[str, Any]:
        """The farm view's part of the appliance's health: the oldest camera's last frame."""
        ages = [loop.capture.stats.last_frame_age_s for loop in self.loops]
        return {"frame_age_s": round(max(ages), 1) if ages else None}

    def _web_guard(self) -> Any:
        """The web page's security rules; ConfigError when it would need a password it lacks."""
        if not self.config.web.address:
            return None
        from edge.web.auth import WebSecurityError, guard_for

        try:
            return guard_for(self.config.web.address)
        except WebSecurityError as exc:
            raise ConfigError("web", [f"web.address: {exc}"]) from None

    def _bind_web(self, state: Path, guard: Any) -> Any:
        """The web page's server, bound (it serves from start-up on); a port in use only
        loses the page."""
        if self.live is None:
            return None
        from edge.web.context import WebContext
        from edge.web.server import WebServer

        cameras = {loop.camera.name: loop.capture for loop in self.loops}
        context = WebContext(self.config, state, self.decider, self.bank, cameras, self.live,
                             self.keeper, self.config_path)
        server = WebServer(self.config.web, context, guard=guard)
        try:
            server.bind()
        except OSError as exc:  # the page must never disable the guard
            log.warning("%s; running without the web page", exc)
            return None
        return server

    def _scene_collector(self, state: Path) -> SceneCollector | None:
        """The empty-scene collector (edge/learn/), when learning is on."""
        cfg = self.config.learn
        if not cfg.enabled:
            return None
        cameras = [c.name for c in self.config.cameras]
        store = SceneStore(scenes_dir(state), cfg.per_hour, cfg.refresh_h)
        self.scenes = SceneCollector(store, MotionPlaces(), cfg, cameras=cameras)
        watch_learning(self.metrics.scrape_time, store, LearnRecord(state), cameras)
        if cfg.refit_at:
            env = {**os.environ, "TENSORCHICKEN_STATE_DIR": str(state)}
            self.nightly = NightlyRefit(cfg, learn_command(self.config_path), self.stop, env=env)
        return self.scenes

    def _arm_at_start(self, state: Path, armed: bool | None) -> None:
        """The command line, else the more recent of the owner's last command and the
        configuration; from then on every owner's command (MQTT, web) is kept."""
        memory = ArmingMemory(state)
        if armed is not None:
            self.decider.set_armed(armed, "command line")
        else:
            choice = memory.choose(self.config)
            log.warning("starting %s: %s", "ARMED" if choice.armed else "disarmed", choice.why)
            self.decider.set_armed(choice.armed, choice.source)
        self.decider.listeners.append(lambda on, source: memory.remember(on, source, self.config))

    def _camera_loop(self, cam: CameraConfig, store: AssetStore, parts: Parts,
                     clips: ClipRecorder | None) -> CameraLoop:
        capture = Capture(cam, lambda: self._source_factory(cam, store.resolve), self.stop)
        return CameraLoop(cam, capture, parts, self.stop, health=self.config.health, clips=clips)

    def _clips(self, cam: CameraConfig, archive: Archive | None, state: Path
               ) -> ClipRecorder | None:
        """The camera's clip recorder, when clips are on and there is an archive to keep them."""
        if archive is None or not self.config.clips.enabled:
            return None
        recorder = ClipRecorder(
            cam.name, self.config.clips, archive.recording_dir(),
            adopt_through(archive, state, self.recorder.update),
            room=lambda: archive.free_bytes() > archive.reserve_bytes)
        self.clip_recorders.append(recorder)
        return recorder

    def _reread_models(self) -> Any:
        """The configuration file's ``models:`` now (SIGHUP reloads only the models)."""
        if self.config_path is None:
            return self.config.models
        return load_config(self.config_path).models

    def request_reload(self, reason: str) -> None:
        """Reload the models from the configuration and the registry. Safe from a signal."""
        if self.keeper is not None:
            self.keeper.request(reason)

    def _backlog_of(self, sink: str) -> Any:
        def backlog() -> int | None:
            return next((s.backlog for s in self.reporters.status() if s.name == sink), None)

        return backlog

    def request_stop(self, reason: str) -> None:
        """Stop every loop; deterrents off at once and for good. Safe from a signal handler."""
        self.stop_reason = self.stop_reason or reason
        # disable() first: a loop already inside bank.fire() then switches its pins back off.
        self.bank.disable()
        self.stop.set()
        self.bank.all_off()

    def run(self, duration_s: float | None = None) -> RunSummary:
        """Start everything, supervise until stopped (or ``duration_s``), then stop cleanly.

        systemd hears READY once the models are loaded, the pins are off and every camera loop
        runs, whether or not its camera answers yet: a camera slower to boot than the Pi is
        reopened by its watchdog while the STATUS line says it is awaited.
        """
        started = time.monotonic()
        self._start_services()
        threads = [self._start_loop(loop) for loop in self.loops]
        self.metrics.up.set(1)
        self.supervisor.ready()
        try:
            reason = self.supervisor.run(threads, started, duration_s, self._watch_event_log)
            self.stop_reason = reason or self.stop_reason
        finally:
            self.request_stop(self.stop_reason or "stopped")
            self.notifier.stopping(f"stopping: {self.stop_reason}")
            for thread in threads:
                thread.join(timeout=5)
            self.metrics.up.set(0)
        return self._summary(time.monotonic() - started)

    def _start_services(self) -> None:
        self.recorder.start()
        self.metrics.watch_recorder(lambda: self.recorder.problem, self.recorder.pending)
        self._start_reporters()
        if self.keeper is not None:
            self.keeper.start()
        if self.nightly is not None:
            self.nightly.start()
        self._start_metrics_server()
        if self.web is not None:
            self.web.start()

    def _start_reporters(self) -> None:
        """The reporters, on the event log; while it cannot be opened, on a stand-in in memory
        (MQTT alone) so that the broker hears why no event is kept and arm commands work."""
        log, cfg = self.recorder.log, self.config.reporters
        if log is None:
            log = self._standin_log = EventLog(Path(":memory:"))
            cfg = cfg.model_copy(update={"twitter": cfg.twitter.model_copy(
                update={"enabled": False})})
        self.reporters = start_reporters(
            cfg, log, self.stop, on_arm=self.decider.set_armed, armed=lambda: self.decider.armed,
            canary=self.classifier.canary, identity=self.identity, health=self._health,
        )
        for sink in self.reporters.status():
            self.metrics.watch_backlog(sink.name, self._backlog_of(sink.name))
        self.reporters.report_problem(self._problem)

    def _watch_event_log(self) -> None:
        """Say loudly when events stop (or start again) being kept; move the reporters from
        their stand-in to the event log once it opens."""
        problem = self.recorder.problem
        if problem != self._problem:
            self._problem = problem
            if problem:
                log.critical("%s; guarding on, events wait in memory", problem)
            else:
                log.warning("events are kept again: the event log is written")
            self.reporters.report_problem(problem)
        if self._standin_log is not None and self.recorder.log is not None:
            self.reporters.close()
            self._standin_log.close()
            self._standin_log = None
            self.event_log = self.recorder.log
            self._start_reporters()

    def _start_metrics_server(self) -> None:
        address = self.config.health.metrics_address
        if not address:
            return
        server = MetricsServer(address, self.metrics.registry)
        try:
            server.start()
        except OSError as exc:  # a monitoring clash must never disable the guard
            log.warning("%s; running without the metrics endpoint", exc)
            return
        self.metrics_server = server

    def _start_loop(self, loop: CameraLoop) -> threading.Thread:
        # A camera that does not answer yet is retried by its watchdog (SourceConfigError,
        # a configuration no retry can mend, still raises).
        loop.capture.start(keep_trying=True)
        thread = threading.Thread(
            target=self._run_loop, args=(loop,), name=f"loop-{loop.camera.name}", daemon=True
        )
        self.supervisor.watch(thread)
        thread.start()
        return thread

    def _run_loop(self, loop: CameraLoop) -> None:
        try:
            loop.run()
        finally:
            self.supervisor.forget()

    def _status_line(self) -> str:
        waiting = [loop.camera.name for loop in self.loops if loop.capture.waiting]
        return status_line(len(self.loops), self.classifier.model_names, waiting,
                           self.recorder.problem)

    def _summary(self, seconds: float) -> RunSummary:
        cameras = {loop.camera.name: loop.summary() for loop in self.loops}
        return RunSummary(seconds, cameras, self.latency.summary(), self.stop_reason)

    @property
    def failed(self) -> bool:
        """Whether a loop died of an exception."""
        return any(loop.error for loop in self.loops)

    def close(self) -> None:
        """Deterrents off first; then cameras, the recorder (which drains into the log), the
        reporters, the log, the models, and last the pins. Idempotent."""
        self.bank.disable()
        self.stop.set()
        self.bank.all_off()
        parts: list[Any] = [loop.capture for loop in self.loops]
        parts += [
            self.scenes,
            self.keeper,
            self.metrics_server,
            self.web,
            *self.clip_recorders,  # they hand their last clips to the recorder
            self.recorder,
            self.reporters,
            self._standin_log,
            self.classifier,
            self.bank,
        ]
        for part in parts:
            if part is None:
                continue
            try:
                part.close()
            except Exception:
                log.exception("closing %s failed", type(part).__name__)
        if self.recorder is not None and self.recorder.log is not None:
            self.recorder.log.close()  # after the recorder: it may open the log as it drains

    def __enter__(self) -> Appliance:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
