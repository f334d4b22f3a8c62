"""X (Twitter) reporter: a post with the snapshot per predator, a daily digest of the rest.

The snapshot goes up through X's v2 media endpoint (``POST /2/media/upload``, multipart
``media`` + ``media_category=tweet_image``), signed with the account's OAuth 1.0a user keys
(multipart fields are not part of the signature); tweepy 4.17 only wraps the retired v1.1
upload. The post itself is tweepy's ``Client.create_tweet(text=..., media_ids=[id])``.

Posting stays within ``daily_allowance`` posts per rolling 24 h, predators first: the digest
leaves the last post of the allowance to predators. The digest counts the events after the
previous digest's by log position (never by start time, which would lose an event written
just after a digest but started before it). A photo is uploaded once per post and its media
id reused on a retry while X keeps it. The posting history lives in the event
log (the sink's state), so a restart does not reset it. How X answers decides what happens:

* 429: wait until the reset time X gives (``x-user-limit-24hour-reset`` when the daily user
  cap is spent, else ``x-rate-limit-reset``), then try the same event again. The reset is
  kept in the sink's state, so neither a new event nor a restart sends anything to X before
  it, and the log and ``doctor`` say which reset it waits for;
* 5xx, timeouts, no network: back off and retry;
* 401, 402 (no credits), 403 (other than a duplicate): stop posting, say so in ``doctor``;
* 403 duplicate, other 4xx: skip that one post.

The four keys come from secrets (``twitter_consumer_key``, ``twitter_consumer_secret``,
``twitter_access_token``, ``twitter_access_token_secret``) and are never logged.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import requests
import tweepy
from pydantic import SecretStr
from requests_oauthlib import OAuth1

from edge.config.reporters import TwitterConfig
from edge.event import Event
from edge.events.errors import DeliveryError, EventRejected, SinkStopped
from edge.events.log import EventLog
from edge.outcome import counts_text, outcome_counts

logger = logging.getLogger(__name__)
# requests-oauthlib logs the signed Authorization header (consumer key, access token) at DEBUG:
# keep those two loggers above DEBUG so that --verbose never writes a key to the journal.
for _name in ("requests_oauthlib", "oauthlib"):
    logging.getLogger(_name).setLevel(logging.INFO)

MAX_CHARS = 280
DAY_S = 86400.0
SECRET_NAMES = ("twitter_consumer_key", "twitter_consumer_secret", "twitter_access_token",
                "twitter_access_token_secret")
_KEEP_POSTED = 200
_MEDIA_MARGIN_S = 60.0
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class XCredentials:
    """The four OAuth 1.0a user-context keys; their repr shows nothing."""

    consumer_key: SecretStr
    consumer_secret: SecretStr
    access_token: SecretStr
    access_token_secret: SecretStr

    @classmethod
    def from_secrets(cls, read: Callable[[str], SecretStr | None]) -> XCredentials:
        """Read the keys with ``read(name)``; SinkStopped names the first one missing."""
        values: list[SecretStr] = []
        for name in SECRET_NAMES:
            value = read(name)
            if value is None or not value.get_secret_value():
                raise SinkStopped(f"secret {name} is not set: X posting is off")
            values.append(value)
        return cls(*values)

    def oauth1(self) -> OAuth1:
        """A requests auth that signs each request (HMAC-SHA1)."""
        return OAuth1(self.consumer_key.get_secret_value(),
                      client_secret=self.consumer_secret.get_secret_value(),
                      resource_owner_key=self.access_token.get_secret_value(),
                      resource_owner_secret=self.access_token_secret.get_secret_value())


class _TimeoutSession(requests.Session):
    # tweepy passes no timeout: a stalled connection would hold the reporter for ever.
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


# X's rate-limit windows, each with its headers' prefix, as the wait is logged.
_WINDOWS = {
    "x-user-limit-24hour": "the account's daily post cap",
    "x-app-limit-24hour": "the app's daily post cap",
    "x-rate-limit": "the 15-minute rate limit",
}


def _reset(headers: Any) -> tuple[float, str] | None:
    """When to come back after a 429 (Unix seconds, plus a second of margin), and why."""
    # X sends several windows; the one that is spent (remaining 0) says when to come back.
    spent, any_reset = [], []
    for window, what in _WINDOWS.items():
        reset = headers.get(f"{window}-reset")
        if reset is None or not str(reset).strip().isdigit():
            continue
        found = (float(reset) + 1.0, f"{what} ({window}-reset)")
        any_reset.append(found)
        if str(headers.get(f"{window}-remaining", "")).strip() == "0":
            spent.append(found)
    return max(spent or any_reset, default=None)


def raise_for_x(response: requests.Response, what: str) -> None:
    """Map X's answer to the reporter's errors; return quietly on 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = _detail(response)
    message = f"{what}: HTTP {status} {detail}".strip()
    if status == 429:
        reset = _reset(response.headers)
        if reset is None:
            raise DeliveryError(f"{message}; X gave no reset time")
        raise DeliveryError(f"{message}; waiting for {reset[1]} to reset at {_when(reset[0])}",
                            retry_at=reset[0])
    if status >= 500:
        raise DeliveryError(message)
    if status == 403 and "duplicate" in detail.lower():
        raise EventRejected(message)
    if status in (401, 402, 403):
        raise SinkStopped(message)
    raise EventRejected(message)


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        errors = body.get("errors") or [body]
        parts = [str(e.get("detail") or e.get("message") or e.get("title") or "")
                 for e in errors if isinstance(e, dict)]
        return "; ".join(p for p in parts if p)[:200]
    return str(body)[:200]


class XClient:
    """The two X calls we make: a v2 media upload and a post (through tweepy)."""

    def __init__(self, credentials: XCredentials, api_base: str, timeout_s: float) -> None:
        self._auth = credentials.oauth1()
        self._upload_url = f"{api_base.rstrip('/')}/2/media/upload"
        self._session = _TimeoutSession(timeout_s)
        self._tweepy = tweepy.Client(
            consumer_key=credentials.consumer_key.get_secret_value(),
            consumer_secret=credentials.consumer_secret.get_secret_value(),
            access_token=credentials.access_token.get_secret_value(),
            access_token_secret=credentials.access_token_secret.get_secret_value())
        self._tweepy.session = _TimeoutSession(timeout_s)

    def upload_image(self, jpeg: bytes) -> tuple[str, float | None]:
        """Upload a JPEG; returns its media id and how long X keeps it (seconds), if said."""
        try:
            response = self._session.post(
                self._upload_url, auth=self._auth,
                files={"media": ("snapshot.jpg", jpeg, "image/jpeg")},
                data={"media_category": "tweet_image", "media_type": "image/jpeg"})
        except requests.RequestException as exc:
            raise DeliveryError(f"media upload: {type(exc).__name__}") from exc
        raise_for_x(response, "media upload")
        try:
            data = response.json()["data"]
            kept = data.get("expires_after_secs")
            return str(data["id"]), float(kept) if kept is not None else None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DeliveryError(f"media upload: unexpected answer {response.text[:200]!r}") from exc

    def post(self, text: str, media_ids: list[str] | None = None) -> str:
        """Create a post; returns its id."""
        try:
            result = self._tweepy.create_tweet(text=text, media_ids=media_ids or None)
        except tweepy.HTTPException as exc:
            raise_for_x(exc.response, "post")
            raise DeliveryError(f"post: {exc}") from exc
        except (tweepy.TweepyException, requests.RequestException) as exc:
            raise DeliveryError(f"post: {type(exc).__name__}: {exc}") from exc
        return str(result.data["id"])


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%H:%M:%S, %d %b %Y")


def predator_text(event: Event) -> str:
    """What, where, when, what was done, how sure: at most 280 characters."""
    did = ("Fired: " + ", ".join(event.deterrents)) if event.deterrents else (
        "No deterrent fired" + (f" ({event.decision['reason']})"
                                if event.decision.get("reason") else ""))
    text = (f"Predator at the henhouse: {event.label} on camera {event.camera} at "
            f"{_when(event.start_time)}. {did}. Confidence {event.score:.0%}. "
            f"#TensorChicken event {event.id}")
    return _fit(text)


def _fit(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rstrip() + "…"


def digest_text(events: list[Event], since: float, until: float,
                fired: Sequence[Event] = ()) -> str:
    """The day's events not posted one by one, counted by verdict and label; and what each
    deterrent's firings of the day (``fired``, posted or not) did, by predator."""
    verdicts = Counter(e.verdict for e in events)
    labels = Counter(e.label for e in events if e.verdict == "predator")
    fired_here = sum(1 for e in events if e.deterrents)
    parts = [f"{n} {v}" for v, n in verdicts.most_common()]
    text = (f"TensorChicken digest, {_when(since)} to {_when(until)}: {len(events)} event(s): "
            f"{', '.join(parts)}.")
    if labels:
        names = ", ".join(f"{k} x{n}" for k, n in labels.most_common())
        text += f" Predators not posted: {names}."
    if fired_here:
        text += f" Deterrents fired {fired_here} time(s)."
    if outcomes := counts_text(outcome_counts(fired)):
        text += f" Afterwards: {outcomes}."
    return _fit(text)


def posting_holds(state: dict[str, Any], cfg: TwitterConfig, now: float) -> list[str]:
    """Why predators are not being posted now, read from the sink's saved state (for
    ``doctor``, in another process): X's 429 wait, and a spent daily allowance."""
    holds = []
    wait = state.get("wait")
    if wait and now < wait["until"]:
        holds.append(f"X said 429: {wait['why']}")
    posts = sorted(t for t in state.get("posts", []) if now - t < DAY_S)
    if cfg.daily_allowance == 0:
        holds.append("daily_allowance is 0: nothing is posted")
    elif len(posts) >= cfg.daily_allowance:
        # A post is free again once enough of the window's posts are a day old.
        free_at = posts[len(posts) - cfg.daily_allowance] + DAY_S
        holds.append(f"the daily allowance of {cfg.daily_allowance} post(s) is spent until "
                     f"{_when(free_at)}: predators seen until then go to the digest")
    return holds


class TwitterSink:
    """Posts predators as they come and a digest once a day, within the allowance.

    Its state (in the event log, so in the state folder, kept across restarts): the times of
    recent posts, the ids posted, the last digest and the last event it counted, X's reset
    time after a 429 (nothing is sent to X before it), and the media id of a photo uploaded
    for a post that has not gone out yet (reused while X keeps it).
    """

    name = "twitter"

    def __init__(self, cfg: TwitterConfig, log: EventLog, client: XClient, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.log = log
        self.client = client
        self._clock = clock
        self._state: dict[str, Any] = {}

    def open(self, wake: Callable[[], None]) -> None:
        """Load the posting history; a first run starts its digest day now."""
        self._state = self.log.sink_state(self.name)
        self._state.setdefault("posts", [])
        self._state.setdefault("posted_ids", [])
        self._state.setdefault("last_digest", self._clock())
        if "digest_after" not in self._state:
            # The digest counts by log position from here on; a state written before that
            # counted by start time from the last digest, so start at the first such event.
            newer = self.log.list(since=self._state["last_digest"])
            latest = self.log.list(limit=1)
            self._state["digest_after"] = (
                newer[0].id - 1 if newer and newer[0].id else latest[0].id if latest else 0)
        self._save()

    def _save(self) -> None:
        self.log.set_sink_state(self.name, self._state)

    def posts_left(self) -> int:
        """Posts still allowed in the rolling 24 h window."""
        now = self._clock()
        self._state["posts"] = [t for t in self._state["posts"] if now - t < DAY_S]
        return self.cfg.daily_allowance - len(self._state["posts"])

    def _posted(self, event_id: int | None) -> None:
        self._state["posts"].append(self._clock())
        if event_id is not None:
            self._state["posted_ids"] = [*self._state["posted_ids"], event_id][-_KEEP_POSTED:]
        self._state.pop("media", None)
        self._save()

    def _to_x(self, call: Callable[[], _T]) -> _T:
        """Make one X call unless X asked us to wait; remember a 429's reset time."""
        wait = self._state.get("wait")
        if wait and self._clock() < wait["until"]:
            raise DeliveryError(wait["why"], retry_at=wait["until"])
        try:
            return call()
        except DeliveryError as exc:
            if exc.retry_at is not None:
                self._state["wait"] = {"until": exc.retry_at, "why": str(exc)}
                self._save()
            raise
        finally:
            if wait and "wait" in self._state and self._state["wait"] == wait:
                del self._state["wait"]  # its time has passed, and X took the call
                self._save()

    def deliver(self, event: Event) -> None:
        """Post a predator with its snapshot; everything else waits for the digest."""
        if event.verdict != "predator":
            return
        if self.posts_left() <= 0:
            logger.warning("twitter: daily allowance (%d) spent; predator event %s goes to the "
                           "digest", self.cfg.daily_allowance, event.id)
            return
        media = self._media_for(event)
        post_id = self._to_x(lambda: self.client.post(predator_text(event),
                                                      [media] if media else None))
        logger.info("twitter: posted predator event %s as %s", event.id, post_id)
        self._posted(event.id)

    def _media_for(self, event: Event) -> str | None:
        """The photo's media id: the one uploaded for this event while X keeps it, else a
        new upload (a retry after a 429 or a 5xx does not upload the same photo again)."""
        kept = self._state.get("media")
        if kept and kept["event"] == event.id and self._clock() < kept["until"]:
            return str(kept["id"])
        if not event.snapshot:
            return None
        try:
            jpeg = Path(event.snapshot).read_bytes()
        except OSError as exc:
            logger.info("twitter: event %s posted without its snapshot: %s", event.id, exc.strerror)
            return None
        uploaded_at = self._clock()
        media_id, kept_s = self._to_x(lambda: self.client.upload_image(jpeg))
        # Reuse it until a minute before X forgets it (24 h for images, when X does not say).
        until = uploaded_at + (kept_s if kept_s is not None else DAY_S) - _MEDIA_MARGIN_S
        self._state["media"] = {"event": event.id, "id": media_id, "until": until}
        self._save()
        return media_id

    def next_digest(self) -> float:
        """When the next digest is due (Unix seconds): the first digest_time after the last."""
        hour, minute = (int(x) for x in self.cfg.digest_time.split(":"))
        last = datetime.fromtimestamp(self._state["last_digest"])
        due = last.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if due <= last:
            due += timedelta(days=1)
        return due.timestamp()

    def service(self) -> None:
        """Post the digest when it is due and the allowance leaves room for predators."""
        if not self.cfg.digest or self._clock() < self.next_digest():
            return
        keep_for_predators = 1 if self.cfg.daily_allowance > 1 else 0
        if self.posts_left() <= keep_for_predators:
            return  # tried again at each pass until the window frees a post
        since, until = self._state["last_digest"], self._clock()
        rest, last = self._undigested()
        if rest:
            fired = [e for e in self.log.list(since=since) if e.deterrents]
            self._to_x(lambda: self.client.post(digest_text(rest, since, until, fired)))
            logger.info("twitter: posted the digest of %d event(s)", len(rest))
            self._posted(None)
        self._state["last_digest"] = until
        self._state["digest_after"] = last
        self._save()

    def _undigested(self) -> tuple[list[Event], int]:
        """The events after the last digest's, up to this sink's cursor, not posted one by
        one; and the id of the last one looked at. By log position, not by time: an event
        written after a digest is in the next one, whenever it started."""
        posted = set(self._state["posted_ids"])
        cursor = self.log.cursor(self.name)  # everything up to it had its chance to be posted
        rest: list[Event] = []
        last = int(self._state["digest_after"])
        while last < cursor:
            batch = [e for e in self.log.after(last, 500) if e.id is not None and e.id <= cursor]
            if not batch:
                break
            rest += [e for e in batch if e.id not in posted]
            last = int(batch[-1].id or last)
        return rest, max(last, int(self._state["digest_after"]))

    def close(self) -> None:
        """Nothing held open between requests."""
