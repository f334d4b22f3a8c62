"""Events: a gallery filtered by camera, verdict and date; one event in full; the owner's label.

The label buttons store the owner's answer in ``labels.csv`` (``edge.train.labels.LabelStore``),
where ``tensorchicken label list`` shows it and ``tensorchicken train --from-archive`` learns
from it. The appliance knows three verdicts; "person" is stored as ``background`` with the
subclass ``person`` (nothing to act on, and training can still tell people apart).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from edge.event import Event
from edge.train.errors import LabelError
from edge.train.labels import LABELS_FILE, VERDICTS, LabelStore
from edge.web.auth import Guard
from edge.web.context import WebContext
from edge.web.http import HttpError, Request, Response, Router, html, redirect
from edge.web.pages.files import archive_url
from edge.web.ui import Markup, button, esc, page, table, when

PER_PAGE = 24
# Button -> (label, subclass) as labels.csv stores them.
LABEL_BUTTONS = {"hen": ("chicken", ""), "predator": ("predator", ""),
                 "nothing": ("background", ""), "person": ("background", "person")}
_CAMERA = re.compile(r"[A-Za-z0-9_-]{1,64}")


def register(router: Router, ctx: WebContext, guard: Guard) -> None:
    """Add the routes."""
    router.add("GET", r"/events", lambda req: gallery(ctx, guard, req))
    router.add("GET", r"/events/(?P<event_id>\d{1,12})",
               lambda req, event_id: detail(ctx, guard, int(event_id)))
    router.add("POST", r"/events/(?P<event_id>\d{1,12})/label",
               lambda req, event_id: set_label(ctx, req, int(event_id)))


# -- filters -------------------------------------------------------------------------------


def _filters(req: Request) -> tuple[str | None, str | None, date | None, int]:
    camera, verdict, day, page_no = (req.arg("camera") or None, req.arg("verdict") or None,
                                     req.arg("date") or None, req.arg("page") or "1")
    if camera is not None and not _CAMERA.fullmatch(camera):
        raise HttpError(400, f"camera {camera!r}: a camera name is letters, digits, _ and -")
    if verdict is not None and verdict not in VERDICTS:
        raise HttpError(400, f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    try:
        when_day = date.fromisoformat(day) if day else None
    except ValueError:
        raise HttpError(400, f"date {day!r}: expected YYYY-MM-DD") from None
    if not page_no.isdigit() or not 1 <= int(page_no) <= 100000:
        raise HttpError(400, f"page {page_no!r}: expected a number from 1")
    return camera, verdict, when_day, int(page_no)


def _day_span(day: date | None) -> tuple[float | None, float | None]:
    if day is None:
        return None, None
    start = datetime.combine(day, datetime.min.time())
    return start.timestamp(), (start + timedelta(days=1)).timestamp()


def _select(name: str, options: list[str], chosen: str | None, everything: str) -> str:
    items = [f'<option value="">{esc(everything)}</option>'] + [
        f'<option value="{esc(o)}"{" selected" if o == chosen else ""}>{esc(o)}</option>'
        for o in options]
    return (f'<label>{esc(name)}<select name="{esc(name)}" data-autosubmit>{"".join(items)}'
            "</select></label>")


# -- the gallery ---------------------------------------------------------------------------


def gallery(ctx: WebContext, guard: Guard, req: Request) -> Response:
    """The newest events matching the filters, a page at a time."""
    camera, verdict, day, page_no = _filters(req)
    start, end = _day_span(day)
    log = ctx.events()
    events = log.find(camera=camera, verdict=verdict, start=start, end=end,
                      limit=PER_PAGE + 1, offset=(page_no - 1) * PER_PAGE)
    more, events = len(events) > PER_PAGE, events[:PER_PAGE]
    cameras = sorted({*ctx.cameras, *log.cameras()})
    labels = _labels(ctx)
    form = (
        '<form method="get" action="/events" class="filters">'
        + _select("camera", cameras, camera, "every camera")
        + _select("verdict", list(VERDICTS), verdict, "every verdict")
        + f'<label>date<input type="date" name="date" value="{esc(day or "")}"></label>'
        + '<button type="submit">Show</button> <a href="/events">clear</a></form>'
    )
    cards = "".join(_card(ctx, e, labels) for e in events) or (
        '<p class="muted">No events match. Events are logged when something is seen or fired.</p>')
    body = form + f'<div class="cards">{cards}</div>' + _pager(req, page_no, more)
    return html(page("events", "Events", body, guard.csrf_token))


def _pager(req: Request, page_no: int, more: bool) -> str:
    def link(n: int, text: str) -> str:
        query = urlencode({k: v for k, v in {**req.query, "page": str(n)}.items() if v})
        return f'<a href="/events?{esc(query)}">{text}</a>'

    parts = ([link(page_no - 1, "← newer")] if page_no > 1 else []) + (
        [link(page_no + 1, "older →")] if more else [])
    return f'<div class="pager">{" ".join(parts)}</div>' if parts else ""


def _card(ctx: WebContext, event: Event, labels: dict[str, str]) -> str:
    picture = archive_url(ctx, event.snapshot) or next(
        (u for u in map(lambda p: archive_url(ctx, p), event.crops.values()) if u), None)
    img = (f'<img src="{esc(picture)}" alt="snapshot of event {event.id}" loading="lazy">'
           if picture else '<p class="muted">no picture archived</p>')
    fired = ", ".join(event.deterrents) or "nothing fired"
    if event.deterrents and event.outcome:  # what the firing did: left, stayed, returned
        fired += f" → {event.outcome.get('result')}"
    mine = labels.get(_ref(ctx, event) or "")
    return (
        f'<article class="card" data-event="{event.id}"><a href="/events/{event.id}">{img}</a>'
        f'<p><span class="verdict {esc(event.verdict)}">{esc(event.verdict)}</span> '
        f'{esc(event.label)} {event.score:.2f}</p>'
        f'<p class="muted">{esc(event.camera)} · {when(event.start_time)} · '
        f'{esc(event.decision.get("rule", "?"))} · {esc(fired)}</p>'
        + (f'<p>your label: <b class="owner-label">{esc(mine)}</b></p>' if mine else "")
        + f'<a href="/events/{event.id}">details and label →</a></article>'
    )


# -- one event -----------------------------------------------------------------------------


def _ref(ctx: WebContext, event: Event) -> str | None:
    """The archived event's name, as ``labels.csv`` and ``tensorchicken label`` know it."""
    for path in [*event.crops.values(), event.snapshot]:
        if path:
            try:
                rel = Path(path).parent.relative_to(ctx.archive_root)
            except ValueError:
                continue
            if len(rel.parts) == 2:
                return rel.as_posix()
    return None


def _labels(ctx: WebContext) -> dict[str, str]:
    try:
        found = LabelStore(ctx.state_dir / LABELS_FILE).read()
    except LabelError:
        return {}
    return {ref: _shown(c.label, c.subclass) for ref, c in found.items()}


def _shown(label: str, subclass: str) -> str:
    names = {v: k for k, v in LABEL_BUTTONS.items()}
    return names.get((label, subclass)) or (f"{label}/{subclass}" if subclass else label)


def _event(ctx: WebContext, event_id: int) -> Event:
    event = ctx.events().get(event_id)
    if event is None:
        raise HttpError(404, f"no event {event_id} in the event log")
    return event


def detail(ctx: WebContext, guard: Guard, event_id: int) -> Response:
    """Everything about one event: pictures, answers, decision, firing, latency, reports."""
    event = _event(ctx, event_id)
    ref = _ref(ctx, event)
    mine = _labels(ctx).get(ref or "")
    snapshot = archive_url(ctx, event.snapshot)
    parts = [
        f'<p><span class="verdict {esc(event.verdict)}">{esc(event.verdict)}</span> '
        f'{esc(event.label)} {event.score:.3f} · camera {esc(event.camera)} · '
        f'{when(event.start_time)} to {when(event.end_time)}</p>',
        f'<div class="shot"><img src="{esc(snapshot)}" alt="snapshot"></div>' if snapshot
        else '<p class="muted">No snapshot archived.</p>',
        "<h2>Your label</h2>", _label_buttons(event, ref, mine, guard.csrf_token),
        "<h2>What the models saw</h2>", _crops(ctx, event),
        "<h2>Every model's answer</h2>", _scores(event),
        "<h2>Clip</h2>", _clip(ctx, event),
        "<h2>Decision</h2>", _decision(event),
        "<h2>Afterwards</h2>", _outcome(event),
        "<h2>Latency per stage</h2>",
        table(("stage", "ms"), ((k, f"{v:.1f}") for k, v in event.latency_ms.items()))
        if event.latency_ms else '<p class="muted">Not recorded (nothing fired).</p>',
        "<h2>Reported</h2>", _reported(ctx, event),
    ]
    return html(page("events", f"Event {event.id}", "".join(parts), guard.csrf_token))


def _label_buttons(event: Event, ref: str | None, mine: str | None, csrf: str) -> str:
    if ref is None:
        return '<p class="muted">Not archived: nothing to label.</p>'
    buttons = "".join(
        button(f"/events/{event.id}/label", name, csrf, fields={"label": name},
               css="chosen" if name == mine else "", name="as")
        for name in LABEL_BUTTONS)
    said = (f'<p>You said: <b id="owner-label">{esc(mine)}</b></p>' if mine
            else '<p class="muted" id="owner-label">Not labelled yet.</p>')
    return f'{said}<div class="labels">{buttons}</div><p class="muted">archive: {esc(ref)}</p>'


def _crops(ctx: WebContext, event: Event) -> str:
    by_file: dict[str, list[str]] = {}
    for model, path in event.crops.items():
        by_file.setdefault(path, []).append(model)
    figures = [
        f'<figure><img src="{esc(url)}" alt="model input"><figcaption>'
        f'{esc(", ".join(models))}</figcaption></figure>'
        for path, models in by_file.items() if (url := archive_url(ctx, path))]
    return f'<div class="crops">{"".join(figures)}</div>' if figures else (
        '<p class="muted">No model input archived.</p>')


def _scores(event: Event) -> str:
    rows = [(name, s.get("verdict", "?"), _num(s.get("score")), _num(s.get("predator")),
             _num(s.get("chicken")), s.get("label", ""))
            for name, s in event.scores.items()]
    return table(("model", "verdict", "score", "predator", "chicken", "label"), rows)


def _num(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def _clip(ctx: WebContext, event: Event) -> str:
    url = archive_url(ctx, ctx.state_dir / event.clip) if event.clip else None
    if url is None:
        return '<p class="muted">No clip archived.</p>'
    # Browsers play MP4 (MPEG-4 or H.264); an AVI (MJPEG) is offered as a download.
    player = (f'<video id="clip" controls preload="metadata" src="{esc(url)}"></video>'
              if url.endswith(".mp4") else "")
    return f'{player}<p><a href="{esc(url)}" download>download the clip</a></p>'


def _outcome(event: Event) -> str:
    if not event.deterrents:
        return '<p class="muted">Nothing fired.</p>'
    o = event.outcome
    if o is None:
        return '<p class="muted">Still watching the camera.</p>'
    left = o.get("left_after_s")
    said = {"left": f"It left {left:g} s after the firing." if left is not None else "It left.",
            "stayed": "It was still there after the burst"
                      + (", and was fired at again." if o.get("fired_again") else "."),
            "returned": "It left" + (f" after {left:g} s" if left is not None else "")
                        + " and came back."}
    return f'<p id="outcome">{esc(said.get(str(o.get("result")), str(o)))}</p>'


def _decision(event: Event) -> str:
    decision = dict(event.decision)
    rule = decision.pop("rule", "?")
    fired = ", ".join(event.deterrents) or "nothing"
    rows = ((k, v) for k, v in decision.items())
    return (f'<p>Rule: <b>{esc(rule)}</b> · fired: <b id="fired">{esc(fired)}</b></p>'
            + table(("reason", "value"), rows))


def _reported(ctx: WebContext, event: Event) -> str:
    rows = []
    for sink in ctx.events().sink_status():
        if event.id is not None and event.id <= sink.cursor:
            state = "handed over"
        elif sink.stopped_reason:
            state = f"not sent: reporter stopped ({sink.stopped_reason})"
        elif sink.last_error:
            state = f"waiting: {sink.last_error}"
        else:
            state = "waiting"
        rows.append((sink.name, Markup(esc(state))))
    if not rows:
        return '<p class="muted">No reporter is on (MQTT and X are off): kept here only.</p>'
    return table(("reporter", "state"), rows)


# -- the owner's label ---------------------------------------------------------------------


def set_label(ctx: WebContext, req: Request, event_id: int) -> Response:
    """Store the owner's label of an archived event where ``train`` reads labels."""
    choice = req.form.get("label", "")
    if choice not in LABEL_BUTTONS:
        raise HttpError(400, f"label {choice!r} is not one of {', '.join(LABEL_BUTTONS)}")
    event = _event(ctx, event_id)
    ref = _ref(ctx, event)
    if ref is None:
        raise HttpError(409, f"event {event_id} has no archived picture to label")
    label, subclass = LABEL_BUTTONS[choice]
    try:
        LabelStore(ctx.state_dir / LABELS_FILE).set([ref], label, subclass)
    except LabelError as exc:
        raise HttpError(500, str(exc)) from None
    return redirect(f"/events/{event_id}")
