"""Models: roles, agreement with the canary and its last comparison, promote and roll back
(asked to confirm), and training a head from the owner's labels, with its progress.

A promotion or rollback rewrites ``models.yaml`` as ``tensorchicken models`` does; the running
appliance's keeper loads the change and swaps between two frames. If the keeper refuses it (the
model does not load), ``models.yaml`` is put back as it was, so a restart runs what runs now.
Training runs ``tensorchicken train --from-archive`` in a process of its own at a lower
priority: its memory and CPU never come out of the guard's process.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from classifier.errors import ClassifierError
from classifier.feature_head import heads_in_use
from classifier.keeper import read_status
from classifier.registry import ModelRegistry, write_atomic_text
from edge.learn.describe import where_it_decides
from edge.web.auth import Guard
from edge.web.context import WebContext
from edge.web.http import HttpError, Request, Response, Router, html, redirect
from edge.web.jobs import Job, JobBusy, Jobs, run_command
from edge.web.ui import Markup, button, esc, page, table, when

KEEPER_WAIT_S = 180.0  # loading and warming a model up on a Pi 4
TRAIN_CONFIG = "web-train-config.yaml"


def register(router: Router, ctx: WebContext, guard: Guard) -> None:
    """Add the routes."""
    jobs = Jobs()
    router.add("GET", r"/models", lambda req: models_page(ctx, guard, jobs))
    router.add("GET", r"/models/job\.json", lambda req: _job_json(jobs))
    router.add("POST", r"/models/promote", lambda req: promote(ctx, jobs, req))
    router.add("POST", r"/models/rollback", lambda req: rollback(ctx, jobs))
    router.add("POST", r"/models/train", lambda req: train(ctx, jobs))


def _registry(ctx: WebContext) -> ModelRegistry:
    keeper = ctx.keeper
    return keeper.registry if keeper is not None else ModelRegistry(ctx.state_dir,
                                                                    ctx.config.models)


def _status(ctx: WebContext) -> dict[str, Any]:
    """What the keeper last published (the same figures ``models list`` shows)."""
    return read_status(ctx.state_dir) or {}


def models_page(ctx: WebContext, guard: Guard, jobs: Jobs) -> Response:
    """The models page."""
    csrf = guard.csrf_token
    status = _status(ctx)
    models = status.get("models", [])
    rows = []
    for m in models:
        agree = m.get("agreement_with_canary")
        action = "" if m.get("role") in ("primary", "canary") else button(
            "/models/promote", "Promote", csrf, fields={"name": m.get("name", "")},
            confirm=f"Promote {m.get('name')}? It decides from the next frame on; "
                    "Roll back undoes it.")
        rows.append((m.get("role", "?"), m.get("name", "?"), m.get("version", "?"),
                     "-" if agree is None else f"{agree:.0%}", _ms(m.get("inference_ms_p50")),
                     Markup(action)))
    canary = status.get("canary") or {}
    swap = status.get("last_swap") or {}
    parts = [
        table(("role", "model", "version", "agrees with canary", "inference p50", ""), rows)
        if rows else '<p class="muted">No model status published yet (the keeper writes it '
                     "every few seconds).</p>",
        "<h2>Canary: last comparison</h2>",
        f'<p class="{"problem" if canary.get("alarm") else ""}">'
        f'{esc(canary.get("message") if canary.get("canary") else "no canary configured")}'
        "</p>",
        "<h2>Last change</h2>",
        f"<p>{esc(_swap_text(swap))}</p>",
        f'<p class="problem">Refused: {esc(status["last_error"])}</p>'
        if status.get("last_error") else "",
        "<h2>The default head, camera by camera</h2>",
        _heads_view(ctx),
        button("/models/rollback", "Roll back the last promotion", csrf, css="danger",
               confirm="Roll back? The model promoted last gives its role back."),
        "<h2>Train a head from your labels</h2>",
        f"<p>{_label_count(ctx)} archived crop(s) labelled. Training runs beside the guard at a "
        "lower priority and registers the new head as a shadow: promote it here when it wins."
        "</p>",
        button("/models/train", "Train from labels", csrf, css="primary",
               confirm="Train a head from your labels now? It takes minutes on a Pi."),
        _job_view(jobs.current),
    ]
    return html(page("models", "Models", "".join(parts), csrf))


def _heads_view(ctx: WebContext) -> str:
    """Which default head decides each camera's crops (the shipped one, or that camera's own
    re-fit, promoted) and which re-fit waits as its shadow (``tensorchicken learn``)."""
    try:
        heads = heads_in_use(_registry(ctx).effective())
    except ClassifierError as exc:
        return f'<p class="problem">{esc(str(exc))}</p>'
    shipped = heads["default_head"]
    if shipped is None:
        return '<p class="muted">Off (models.default_head: false).</p>'
    look = heads["second_look"]
    looks = (f", {look['name']} on the crops it leaves undecided"
             if look is not None and look["error"] is None else "")
    rows = []
    for camera in [c.name for c in ctx.config.cameras]:
        own = heads["camera_heads"].get(camera)
        shadow = heads["camera_head_shadows"].get(camera)
        deciding = (f"{own['name']} (re-fitted on this camera{where_it_decides(own)})" if own
                    else f"{shipped['name']} (shipped{looks})")
        rows.append((camera, deciding,
                     f"{shadow['name']} (judged after its shadow hours)" if shadow else "-"))
    return table(("camera", "decides with", "waiting as its shadow"), rows)


def _ms(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f} ms"


def _swap_text(swap: dict[str, Any]) -> str:
    if not swap:
        return "no change since the start"
    was = swap.get("previous_primary")
    return (f"{when(swap.get('at'))}: primary {swap.get('primary')}"
            + (f" (was {was}), switched in {swap.get('switch_ms')} ms" if was
               else " (loaded at the start)"))


def _label_count(ctx: WebContext) -> int:
    from edge.train.errors import LabelError
    from edge.train.labels import LABELS_FILE, LabelStore

    try:
        return len(LabelStore(ctx.state_dir / LABELS_FILE).read())
    except LabelError:
        return 0


def _job_view(job: Job | None) -> str:
    if job is None:
        return ""
    return (f'<h2>Progress</h2><p id="job-state">{esc(job.state)}: {esc(job.title)}</p>'
            f'<pre class="job" data-job="/models/job.json">{esc(chr(10).join(job.lines))}</pre>')


def _job_json(jobs: Jobs) -> Response:
    job = jobs.current
    body = job.to_dict() if job else {"state": "none", "title": "", "lines": []}
    return Response(json.dumps(body).encode(), content_type="application/json")


# -- changes -------------------------------------------------------------------------------


def promote(ctx: WebContext, jobs: Jobs, req: Request) -> Response:
    """Promote the named model (it must be one the registry knows)."""
    name = req.form.get("name", "").strip()
    if not name or len(name) > 200:
        raise HttpError(400, "name the model to promote")
    return _change(ctx, jobs, f"promote {name}", lambda r: r.promote(name))


def rollback(ctx: WebContext, jobs: Jobs) -> Response:
    """Undo the last promotion."""
    return _change(ctx, jobs, "rollback", lambda r: r.rollback())


def _change(ctx: WebContext, jobs: Jobs, what: str, apply: Any) -> Response:
    if jobs.running:  # before models.yaml changes: one change (or training) at a time
        raise HttpError(409, f"{jobs.current.title if jobs.current else 'a job'} is still "
                        "running: wait for it to end")
    registry = _registry(ctx)
    before = registry.path.read_text(encoding="utf-8") if registry.path.exists() else None
    keeper = ctx.keeper
    reloads = keeper.reloads if keeper else 0
    swap = keeper.rendezvous.last_swap if keeper else None
    try:
        apply(registry)
    except ClassifierError as exc:
        raise HttpError(409, f"{what}: {exc}") from None

    def wait(job: Job) -> bool:
        job.say(f"{what}: models.yaml written; waiting for the running appliance to load it")
        if keeper is None:
            job.say("no appliance is running here: the change is recorded")
            return True
        deadline = time.monotonic() + KEEPER_WAIT_S
        while keeper.reloads == reloads and time.monotonic() < deadline:
            time.sleep(0.2)
        if keeper.rendezvous.last_swap is not swap:
            job.say(f"done: primary {keeper.rendezvous.last_swap.primary}"
                    if keeper.rendezvous.last_swap else "done")
            return True
        error = keeper.rendezvous.last_error or "no answer from the keeper in time"
        if before is None:
            registry.path.unlink(missing_ok=True)
        else:
            write_atomic_text(registry.path, before)
        job.say(f"refused, models.yaml put back as it was: {error}")
        return False

    try:
        jobs.start(what, wait)
    except JobBusy as exc:
        raise HttpError(409, str(exc)) from None
    return redirect("/models")


def train(ctx: WebContext, jobs: Jobs) -> Response:
    """Train a head from the owner's labels in a process of its own."""
    config = ctx.config_path or _written_config(ctx)
    argv = [sys.executable, "-m", "edge.cli", "train", "--from-archive", "-c", str(config)]
    try:
        jobs.start("training a head from your labels", lambda job: run_command(job, argv))
    except JobBusy as exc:
        raise HttpError(409, str(exc)) from None
    return redirect("/models")


def _written_config(ctx: WebContext) -> Path:
    """The running configuration as a file, for a run that was given none (the demo)."""
    path = ctx.state_dir / TRAIN_CONFIG
    text = yaml.safe_dump(ctx.config.model_dump(mode="json"), sort_keys=False)
    write_atomic_text(path, text)
    return path
