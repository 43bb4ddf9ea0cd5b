"""Poll the Weibo open API (``lingting connect weibo``): keyword searches and account timelines.

Each stream (``keyword:海底捞``, ``uid:1234``, ``screen_name:海底捞火锅``) is read with since_id paging: the API
answers newest first, so a poll collects the pages newer than the stream's since_id, then publishes them
oldest first. The position (what ``run_source`` checkpoints) is ``{stream key: highest id published}``; it only
grows, so a restart asks for what came after it. A reposted status (``retweeted_status``) is published as its
own post too, and the repost points to it (``repost_of``); the keys of the last ``ORIGINALS_KEPT`` originals
published are part of the position, so an original reposted again after a restart is not published twice.

Errors: rate limits (HTTP 403, error codes 10022/10023/10024) wait for the reset the API reports
(``account/rate_limit_status.json``) or back off exponentially; 5xx and network errors back off; a rejected
token is logged as an error naming LINGTING_WEIBO_TOKEN on every attempt and retried slowly; other API errors
are logged with their code and message and the stream is tried again at its next poll.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Generator, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import typer
from pydantic import ValidationError

from connectors.config import ConnectorsConfig, WeiboConfig, WeiboStream
from connectors.html_text import html_to_text
from connectors.polling import PollingSource
from connectors.source import ConnectorError, Emit, Idle, Invalid, Launch
from connectors.source import Item as SourceItem
from schemas import Author, Metrics, RawPost
from schemas.errors import ConfigError, validation_summary
from schemas.retry import backoff_delay, retry_after_seconds

log = logging.getLogger("lingting.connect.weibo")

RATE_LIMIT_CODES = frozenset({10022, 10023, 10024})  # IP / user / user-per-api requests out of rate limit
TOKEN_CODES = frozenset({21314, 21315, 21316, 21317, 21319, 21327, 21332})  # token used/expired/revoked/invalid
TOKEN_HELP = (
    "renew the access token (OAuth2 on open.weibo.com), set LINGTING_WEIBO_TOKEN "
    "(or connectors.weibo.token) and restart `lingting connect weibo`"
)
MAX_RESET_WAIT = 3600.0  # Weibo limits are per hour: never wait longer than one window
RECENT_KEYS = 100_000  # posts remembered to publish a reposted original (or a post in two streams) once

ORIGINALS_KEPT = 5_000  # reposted originals remembered in the checkpoint (across restarts)
ORIGINALS = "_originals"  # position key of that list (stream keys always contain ':')
Position = dict[str, Any]
Item = SourceItem[Position]


class WeiboApiError(ConnectorError):
    """An error answer of the API (or no usable answer); ``kind`` decides what the connector does."""

    def __init__(
        self, message: str, *, kind: str, code: int | None = None, status: int | None = None, reset: float | None = None
    ) -> None:
        super().__init__(message)
        self.kind, self.code, self.status, self.reset = kind, code, status, reset


# --- mapping ---------------------------------------------------------------------------------------------

_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}


def parse_weibo_time(value: str) -> datetime:
    """``Tue Nov 24 10:15:00 +0800 2026`` → aware datetime (locale independent, unlike ``%a %b``)."""
    try:
        _, month, day, clock, offset, year = value.split()
        hour, minute, second = (int(x) for x in clock.split(":"))
        sign = -1 if offset[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
        return datetime(int(year), _MONTHS[month], int(day), hour, minute, second, tzinfo=tz)
    except (ValueError, KeyError, IndexError, AttributeError):
        raise ValueError(f"created_at {value!r} is not in Weibo's format 'Tue Nov 24 10:15:00 +0800 2026'") from None


def status_id(status: dict[str, Any]) -> str:
    return str(status.get("idstr") or status.get("id") or "")


def status_to_post(status: dict[str, Any]) -> RawPost:
    """Map one API status to a RawPost; raise ValueError (or ValidationError) when it cannot be one."""
    sid = status_id(status)
    if not sid.isdigit():
        raise ValueError(f"status without a numeric id/idstr: {str(status)[:200]}")
    long_text = (status.get("longText") or {}).get("longTextContent") if status.get("isLongText") else None
    text = html_to_text(long_text or status.get("text") or "")
    user = status.get("user") or {}
    uid = str(user.get("idstr") or user.get("id") or "") or None
    author = None
    if user:
        author = Author(
            id=uid,
            name=user.get("screen_name"),
            followers=user.get("followers_count"),
            verified=bool(user.get("verified")),
            created_at=parse_weibo_time(user["created_at"]) if user.get("created_at") else None,
        )
    metrics = Metrics(
        reposts=status.get("reposts_count") or 0,
        comments=status.get("comments_count") or 0,
        likes=status.get("attitudes_count") or 0,
    )
    retweeted = status.get("retweeted_status")
    repost_of = f"weibo:{status_id(retweeted)}" if retweeted and status_id(retweeted) else None
    mid = str(status.get("mid") or sid)
    return RawPost(
        platform="weibo",
        id=sid,
        text=text,
        created_at=parse_weibo_time(status.get("created_at") or ""),
        author=author,
        metrics=metrics,
        repost_of=repost_of,
        url=f"https://weibo.com/{uid}/{mid}" if uid else None,
    )


# --- the source ------------------------------------------------------------------------------------------


class WeiboSource(PollingSource[Position]):
    """The position is ``{stream key: highest id published}`` plus the recent originals (module docstring)."""

    name = "weibo"

    def __init__(self, config: WeiboConfig, *, once: bool = False, stop: threading.Event | None = None) -> None:
        if not config.token:
            raise ConnectorError(
                "no Weibo access token: set LINGTING_WEIBO_TOKEN (or connectors.weibo.token, or --token)"
            )
        if not config.streams:
            raise ConnectorError(
                "no Weibo streams to follow: pass --keyword/--uid/--screen-name or list them "
                "under connectors.weibo.streams"
            )
        super().__init__(once=once, stop=stop)
        self.config = config
        self.failed: dict[str, str] = {}  # --once: streams that could not be read, with why
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._client: httpx.Client | None = None

    # -- polling loop --

    def items(self, resume: Position | None) -> Iterator[Item]:
        resume = dict(resume or {})
        self._originals: tuple[str, ...] = tuple(resume.pop(ORIGINALS, ()))
        since: Position = {k: str(v) for k, v in resume.items()}
        due = {s.key: 0.0 for s in self.config.streams}
        # run_source may start over from a checkpoint: what it lost must be sent again, what the checkpoint
        # says was published (its originals) must not
        self._recent = OrderedDict.fromkeys(self._originals)
        with httpx.Client(
            base_url=self.config.base_url.rstrip("/"),
            timeout=self.config.timeout,
            headers={"User-Agent": "lingting-weibo/1"},
        ) as self._client:
            while not self.stop.is_set():
                for stream in self.config.streams:
                    if due[stream.key] <= time.monotonic() and not self.stop.is_set():
                        yield from self._poll(stream, since)
                        due[stream.key] = time.monotonic() + stream.interval
                if self.once:
                    return
                yield from self._wait(min(due.values()) - time.monotonic(), since)

    def _poll(self, stream: WeiboStream, since: Position) -> Iterator[Item]:
        statuses = yield from self._collect(stream, since)
        if statuses:
            log.info("%s: %d new statuses since id %s", stream.key, len(statuses), since.get(stream.key, "(none)"))
        for status in statuses:  # oldest first: the position only grows
            retweeted = status.get("retweeted_status")
            if retweeted and not retweeted.get("deleted") and status_id(retweeted):
                if (item := self._item(stream, retweeted, since, original=True)) is not None:
                    yield item
            since[stream.key] = status_id(status)
            yield self._item(stream, status, since) or Idle(self._position(since))

    def _item(
        self, stream: WeiboStream, status: dict[str, Any], since: Position, *, original: bool = False
    ) -> Item | None:
        """The status as an item at the current position; None for a post this process already published."""
        try:
            post = status_to_post(status)
        except ValueError as err:  # ValidationError included
            error = validation_summary(err, top="status") if isinstance(err, ValidationError) else str(err)
            return Invalid(
                self._position(since),
                error,
                json.dumps(status, ensure_ascii=False).encode(),
                {"stream": stream.key, "id": status.get("idstr")},
            )
        if not self._first_time(post.key):
            return None
        if original:
            self._originals = (*self._originals[-(ORIGINALS_KEPT - 1) :], post.key)
        return Emit(post, self._position(since))

    def _position(self, since: Position) -> Position:
        """A snapshot of the position: since_ids per stream, plus the recent originals (a shared tuple)."""
        return {**since, ORIGINALS: self._originals} if self._originals else dict(since)

    def _first_time(self, key: str) -> bool:
        """False for a post this process already published (an original reposted twice, a post in two streams)."""
        if key in self._recent:
            self._recent.move_to_end(key)
            return False
        self._recent[key] = None
        if len(self._recent) > RECENT_KEYS:
            self._recent.popitem(last=False)
        return True

    def _wait(self, seconds: float, since: Position) -> Iterator[Item]:
        return self.idle(seconds, lambda: self._position(since))

    # -- fetching --

    def _collect(self, stream: WeiboStream, since: Position) -> Generator[Item, None, list[dict[str, Any]]]:
        """All statuses newer than the stream's since_id, oldest first (empty when the stream failed)."""
        floor = int(since.get(stream.key, 0) or 0)
        path, params = _endpoint(stream)
        params.update(count=stream.count)
        if floor:
            params["since_id"] = floor
        found: dict[int, dict[str, Any]] = {}
        for page in range(1, self.config.max_pages + 1):
            body = yield from self._fetch(stream, path, {**params, "page": page}, since)
            if body is None:
                return []
            statuses = body.get("statuses") or []
            for status in statuses:
                sid = status_id(status)
                if sid.isdigit() and int(sid) > floor:  # search ignores since_id: filter here too
                    found[int(sid)] = status  # pages shift while new statuses arrive: same id, once
            caught_up = any(status_id(s).isdigit() and int(status_id(s)) <= floor for s in statuses)
            total = body.get("total_number")
            if caught_up or len(statuses) < stream.count or (isinstance(total, int) and page * stream.count >= total):
                break
        else:
            if floor:
                log.warning(
                    "%s: more than %d pages of new statuses since the last poll; older ones were skipped. "
                    "Poll more often (streams[].interval) or raise connectors.weibo.max_pages.",
                    stream.key,
                    self.config.max_pages,
                )
        return [found[i] for i in sorted(found)]

    def _fetch(
        self, stream: WeiboStream, path: str, params: dict[str, Any], since: Position
    ) -> Generator[Item, None, dict[str, Any] | None]:
        """One page, retried through rate limits, server and network errors; None when the stream gives up."""
        attempt = 0
        while not self.stop.is_set():
            try:
                body = self._get(path, params)
                if attempt:
                    log.info("%s: Weibo answers again after %d failed attempts", stream.key, attempt)
                return body
            except WeiboApiError as err:
                self.metrics.source_error()
                where = f"{stream.key} (GET {path} page {params.get('page')})"
                if err.kind == "rate_limit":
                    reset = err.reset if err.reset is not None else self._rate_limit_reset()
                    delay = min(reset, MAX_RESET_WAIT) if reset else self._backoff(attempt)
                    log.warning("%s: rate limited by Weibo (%s); waiting %.1f s", where, err, delay)
                elif err.kind == "token":
                    then = (
                        "--once: this stream is reported as failed"
                        if self.once
                        else f"retrying in {self.config.token_retry_seconds:g} s"
                    )
                    log.error("%s: Weibo rejected the access token (%s): %s. %s.", where, err, TOKEN_HELP, then)
                    if self.once:
                        self.failed[stream.key] = f"access token rejected ({err}): {TOKEN_HELP}"
                        return None
                    delay = self.config.token_retry_seconds
                elif err.kind == "transient":
                    delay = self._backoff(attempt)
                    log.warning("%s: %s; retrying in %.1f s", where, err, delay)
                else:
                    log.error("%s: Weibo API error %s; this stream is tried again at its next poll", where, err)
                    if self.once:
                        self.failed[stream.key] = str(err)
                    return None
            attempt += 1
            yield from self._wait(delay, since)
        return None

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt + 1, initial=1.0, cap=self.config.retry_max_seconds)

    def _rate_limit_reset(self) -> float | None:
        """Seconds until the hourly window resets, from account/rate_limit_status.json (not itself limited)."""
        try:
            body = self._get("/2/account/rate_limit_status.json", {})
            reset = body.get("reset_time_in_seconds")
            return float(reset) if isinstance(reset, (int, float)) and reset >= 0 else None
        except WeiboApiError:
            return None

    def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """GET and classify: return the JSON body of a success, raise WeiboApiError otherwise.

        The token goes in the ``Authorization: OAuth2 <token>`` header, the API's other documented way to pass
        access_token: in the URL it would land in every log line that names the URL (httpx, proxies)."""
        try:
            resp = self._client.get(path, params=params, headers={"Authorization": f"OAuth2 {self.config.token}"})
        except httpx.HTTPError as err:
            raise WeiboApiError(
                f"cannot reach {self.config.base_url}: {type(err).__name__}: {err}", kind="transient"
            ) from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and "error_code" in body:
            try:
                code: int | None = int(body["error_code"])  # documented both as number and as string
            except (TypeError, ValueError):
                code = None
            message = f"error_code {body['error_code']}: {body.get('error', '')} (HTTP {resp.status_code})"
            kind = (
                "rate_limit"
                if code in RATE_LIMIT_CODES
                else "token"
                if code in TOKEN_CODES
                else "transient"
                if resp.status_code >= 500
                else "api"
            )
            raise WeiboApiError(message, kind=kind, code=code, status=resp.status_code, reset=_retry_after(resp, body))
        if resp.status_code in (403, 429):  # a limit answered without Weibo's JSON (e.g. by a proxy)
            raise WeiboApiError(
                f"HTTP {resp.status_code} without an error_code",
                kind="rate_limit",
                status=resp.status_code,
                reset=_retry_after(resp, {}),
            )
        if resp.status_code >= 500:
            raise WeiboApiError(
                f"HTTP {resp.status_code} from {self.config.base_url}", kind="transient", status=resp.status_code
            )
        if resp.status_code >= 400 or not isinstance(body, dict):
            what = "a non-JSON body" if body is None else "an unexpected body"
            raise WeiboApiError(
                f"HTTP {resp.status_code} with {what}: {resp.text[:200]!r}",
                kind="transient" if resp.status_code < 400 else "api",
                status=resp.status_code,
            )
        return body


def _endpoint(stream: WeiboStream) -> tuple[str, dict[str, Any]]:
    if stream.keyword is not None:
        return "/2/search/topics.json", {"q": stream.keyword}
    if stream.uid is not None:
        return "/2/statuses/user_timeline.json", {"uid": stream.uid}
    return "/2/statuses/user_timeline.json", {"screen_name": stream.screen_name}


def _retry_after(resp: httpx.Response, body: dict[str, Any]) -> float | None:
    """The reset the API reports: the Retry-After header, else the body's ``reset_time_in_seconds``."""
    header = retry_after_seconds(resp.headers.get("Retry-After"))
    if header is not None:
        return header
    try:
        reset = float(body.get("reset_time_in_seconds"))
    except (TypeError, ValueError):
        return None
    return reset if reset >= 0 else None


def command(
    connectors: ConnectorsConfig,
    stop: threading.Event,
    keyword: list[str] | None = typer.Option(
        None, "--keyword", "-k", help="Search term to follow (repeatable), added to connectors.weibo.streams."
    ),
    uid: list[str] | None = typer.Option(None, "--uid", help="Account id whose timeline to follow (repeatable)."),
    screen_name: list[str] | None = typer.Option(
        None, "--screen-name", help="Account nickname whose timeline to follow (repeatable)."
    ),
    interval: float | None = typer.Option(
        None, help="Seconds between polls of the streams given here (default 60); config streams keep their own."
    ),
    token: str | None = typer.Option(
        None, envvar="LINGTING_WEIBO_TOKEN", show_default=False, help="OAuth2 access token (or connectors.weibo.token)."
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="API root (default connectors.weibo.base_url, https://api.weibo.com)."
    ),
    once: bool = typer.Option(
        False,
        "--once",
        help="Read each stream until caught up, then exit (cron, tests); exit 1 if a stream could not be read.",
    ),
) -> Launch:
    """Poll the Weibo open API (keyword search, account timelines) with since_id paging and publish new statuses
    (and the originals they repost), keyed weibo:id. Backs off on rate limits; restartable without duplicates."""
    cfg = connectors.weibo
    given = (
        [("keyword", v) for v in keyword or []]
        + [("uid", v) for v in uid or []]
        + [("screen_name", v) for v in screen_name or []]
    )
    try:
        extra = [
            WeiboStream(**{kind: value}, **({"interval": interval} if interval is not None else {}))
            for kind, value in given
        ]
    except ValidationError as err:
        raise ConfigError(f"invalid --keyword/--uid/--screen-name/--interval: {validation_summary(err)}") from None
    known = {s.key for s in cfg.streams}
    cfg = cfg.model_copy(
        update={
            "streams": [*cfg.streams, *(s for s in extra if s.key not in known)],
            **{k: v for k, v in {"token": token, "base_url": base_url}.items() if v},
        }
    )
    source = WeiboSource(cfg, once=once, stop=stop)  # checks token and streams before waiting for Kafka

    def finish() -> int:
        for stream, why in sorted(source.failed.items()):
            typer.secho(f"error: {stream}: {why}", fg=typer.colors.RED, err=True)
        return 1 if source.failed else 0

    return Launch(source, ident=cfg.base_url, finish=finish)
