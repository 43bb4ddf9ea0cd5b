"""Real local receivers for alert delivery tests: one aiohttp server on 127.0.0.1 that answers like each chat
service (checking its signature and message shape the way the service documents it), and an aiosmtpd SMTP
server with STARTTLS/SSL and LOGIN auth. Failure modes are scripted per service: canned responses (500, 429 +
Retry-After), slow answers, the whole server down (stop/start on the same port).

The signature checks are written from the services' documentation, independently of sinks/notify/signing.py,
so a sender bug cannot hide behind a matching receiver bug.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import hashlib
import hmac
import json
import ssl
import subprocess
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from pipeline.stack.config import free_port
from schemas.alerts import Alert
from sinks.notify.sample import sample_alert

DINGTALK_TOKEN = "dt-access-token-0123456789"
WECOM_KEY = "wecom-key-0123456789"
FEISHU_HOOK = "feishu-hook-0123456789"
SLACK_PATH = "T000/B000/slack-secret-0123456789"


@dataclass
class Canned:
    status: int = 500
    body: Any = "boom"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Service:
    """What one service received and how it misbehaves next."""

    name: str
    received: list[dict[str, Any]] = field(default_factory=list)  # accepted messages (parsed JSON + meta)
    rejected: list[str] = field(default_factory=list)  # why requests were refused (signature, shape, ...)
    attempts: int = 0
    canned: deque[Canned] = field(default_factory=deque)
    delay: float = 0.0
    arrival: list[float] = field(default_factory=list)  # time.monotonic() of accepted messages

    def fail_next(self, n: int, status: int = 500, body: Any = "internal error", **headers: str) -> None:
        for _ in range(n):
            self.canned.append(Canned(status, body, dict(headers)))


#: A service's request handler, given the service's record.
Handler = Callable[[web.Request, Service], Awaitable[web.Response]]


class ChatReceivers:
    """One HTTP server playing webhook receiver, DingTalk, WeCom, Feishu and Slack."""

    def __init__(
        self,
        *,
        webhook_secret: str = "hook-secret",
        dingtalk_secret: str = "SECdingtalk",
        feishu_secret: str = "feishu-secret",
        dingtalk_per_minute: int = 20,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.webhook_secret, self.dingtalk_secret, self.feishu_secret = webhook_secret, dingtalk_secret, feishu_secret
        self.dingtalk_per_minute = dingtalk_per_minute
        self.services = {n: Service(n) for n in ("webhook", "dingtalk", "wecom", "feishu", "slack")}
        self._runner: web.AppRunner | None = None
        self._dingtalk_sent: deque[float] = deque()

    # urls the channels are configured with
    @property
    def urls(self) -> dict[str, str]:
        return {
            "webhook": f"{self.base}/hook",
            "dingtalk": f"{self.base}/robot/send?access_token={DINGTALK_TOKEN}",
            "wecom": f"{self.base}/cgi-bin/webhook/send?key={WECOM_KEY}",
            "feishu": f"{self.base}/open-apis/bot/v2/hook/{FEISHU_HOOK}",
            "slack": f"{self.base}/services/{SLACK_PATH}",
        }

    def __getitem__(self, name: str) -> Service:
        return self.services[name]

    async def start(self) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        for path, name, handler in (
            ("/hook", "webhook", self._webhook),
            ("/robot/send", "dingtalk", self._dingtalk),
            ("/cgi-bin/webhook/send", "wecom", self._wecom),
            ("/open-apis/bot/v2/hook/{token}", "feishu", self._feishu),
            ("/services/{path:.*}", "slack", self._slack),
        ):
            app.router.add_post(path, self._serving(self.services[name], handler))
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def stop(self) -> None:
        """Take the whole server down (connections refused) until :meth:`start` again."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ChatReceivers:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    # ------------------------------------------------------------------ shared behaviour
    def _serving(self, svc: Service, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        """``handler`` behind what every service shares: the attempt counted, the scripted delay and failures."""

        async def serve(request: web.Request) -> web.Response:
            if canned := await self._prelude(svc):
                return canned
            return await handler(request, svc)

        return serve

    async def _prelude(self, svc: Service) -> web.Response | None:
        svc.attempts += 1
        if svc.delay:
            await asyncio.sleep(svc.delay)
        if svc.canned:
            c = svc.canned.popleft()
            if isinstance(c.body, (dict, list)):
                return web.json_response(c.body, status=c.status, headers=c.headers)
            return web.Response(text=str(c.body), status=c.status, headers=c.headers)
        return None

    @staticmethod
    def _refuse(svc: Service, why: str, answer: dict[str, Any] | str, status: int = 200) -> web.Response:
        """Record why a request was refused and answer it the way the service does (JSON, or plain text)."""
        svc.rejected.append(why)
        if isinstance(answer, dict):
            return web.json_response(answer, status=status)
        return web.Response(status=status, text=answer)

    @staticmethod
    def _accept(svc: Service, record: dict[str, Any]) -> None:
        svc.received.append(record)
        svc.arrival.append(time.monotonic())

    # ------------------------------------------------------------------ generic webhook
    async def _webhook(self, request: web.Request, svc: Service) -> web.Response:
        raw = await request.read()
        ts = request.headers.get("X-Lingting-Timestamp", "")
        sig = request.headers.get("X-Lingting-Signature", "")
        expected = (
            "sha256=" + hmac.new(self.webhook_secret.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        )
        if not ts.isdigit() or abs(time.time() - int(ts)) > 300:
            return self._refuse(svc, "stale or missing timestamp", "stale timestamp", status=401)
        if not hmac.compare_digest(expected, sig):
            return self._refuse(svc, "bad signature", "bad signature", status=401)
        body = json.loads(raw)
        for key in ("id", "brand", "severity", "status", "sequence", "observed", "expected"):
            if key not in body:
                return self._refuse(svc, f"missing {key}", f"missing {key}", status=400)
        self._accept(svc, {"body": body, "delivery": unquote(request.headers.get("X-Lingting-Delivery", ""))})
        return web.json_response({"ok": True})

    # ------------------------------------------------------------------ DingTalk group robot
    async def _dingtalk(self, request: web.Request, svc: Service) -> web.Response:
        q = request.query
        if q.get("access_token") != DINGTALK_TOKEN:
            return self._refuse(svc, "token", {"errcode": 300001, "errmsg": "token is not exist"})
        ts, sign = q.get("timestamp", ""), q.get("sign", "")
        # documented check: timestamp in ms within an hour; sign = Base64(HmacSHA256(secret, ts+"\n"+secret)),
        # URL-encoded in the query (decoded once here: a sender that forgets to encode turns '+' into ' ')
        string_to_sign = f"{ts}\n{self.dingtalk_secret}".encode()
        expected = base64.b64encode(
            hmac.new(self.dingtalk_secret.encode(), string_to_sign, hashlib.sha256).digest()
        ).decode()
        fresh = ts.isdigit() and abs(time.time() * 1000 - int(ts)) < 3600 * 1000
        if not fresh or not hmac.compare_digest(expected, sign):
            return self._refuse(svc, "sign", {"errcode": 310000, "errmsg": "sign not match"})
        now = time.monotonic()
        while self._dingtalk_sent and now - self._dingtalk_sent[0] > 60:
            self._dingtalk_sent.popleft()
        if len(self._dingtalk_sent) >= self.dingtalk_per_minute:
            return self._refuse(
                svc, "too fast", {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
            )
        body = await request.json()
        problem = _dingtalk_shape(body)
        if problem:
            return self._refuse(svc, problem, {"errcode": 40035, "errmsg": f"缺少参数 {problem}"})
        self._dingtalk_sent.append(now)
        self._accept(svc, {"body": body})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # ------------------------------------------------------------------ WeCom group robot
    async def _wecom(self, request: web.Request, svc: Service) -> web.Response:
        if request.query.get("key") != WECOM_KEY:
            return self._refuse(svc, "key", {"errcode": 93000, "errmsg": "invalid webhook url"})
        body = await request.json()
        content = (body.get("markdown") or {}).get("content")
        if body.get("msgtype") != "markdown" or not isinstance(content, str) or not content:
            return self._refuse(svc, "shape", {"errcode": 40008, "errmsg": "invalid message type"})
        if len(content.encode("utf-8")) > 4096:
            return self._refuse(
                svc, "too long", {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
            )
        self._accept(svc, {"body": body})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    # ------------------------------------------------------------------ Feishu custom bot
    async def _feishu(self, request: web.Request, svc: Service) -> web.Response:
        raw = await request.read()
        if request.match_info["token"] != FEISHU_HOOK:
            return self._refuse(
                svc, "token", {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
            )
        if len(raw) > 20 * 1024:
            return self._refuse(svc, "too large", {"code": 9499, "msg": "Bad Request"}, status=400)
        body = json.loads(raw)
        ts = str(body.get("timestamp", ""))
        key = f"{ts}\n{self.feishu_secret}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        if (
            not ts.isdigit()
            or abs(time.time() - int(ts)) > 3600
            or not hmac.compare_digest(expected, str(body.get("sign", "")))
        ):
            return self._refuse(
                svc, "sign", {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
            )
        card = body.get("card") or {}
        ok = (
            body.get("msg_type") == "interactive"
            and isinstance(card.get("elements"), list)
            and card.get("header", {}).get("title", {}).get("content")
        )
        if not ok:
            return self._refuse(svc, "shape", {"code": 9499, "msg": "Bad Request"}, status=400)
        self._accept(svc, {"body": body})
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    # ------------------------------------------------------------------ Slack incoming webhook
    async def _slack(self, request: web.Request, svc: Service) -> web.Response:
        if request.match_info["path"] != SLACK_PATH:
            return web.Response(status=404, text="no_service")
        body = await request.json()
        blocks = body.get("blocks") or []
        if not body.get("text") and not blocks:
            return self._refuse(svc, "no text", "no_text", status=400)
        if len(blocks) > 50 or any(_slack_block_problem(b) for b in blocks):
            return self._refuse(svc, "invalid_blocks", "invalid_blocks", status=400)
        self._accept(svc, {"body": body})
        return web.Response(text="ok")


def _dingtalk_shape(body: dict[str, Any]) -> str | None:
    kind = body.get("msgtype")
    if kind == "markdown":
        md = body.get("markdown") or {}
        return None if md.get("title") and md.get("text") else "markdown.title/text"
    if kind == "actionCard":
        card = body.get("actionCard") or {}
        if not (card.get("title") and card.get("text")):
            return "actionCard.title/text"
        if card.get("singleTitle") and card.get("singleURL"):
            return None
        btns = card.get("btns") or []
        if btns and all(b.get("title") and b.get("actionURL") for b in btns):
            return None
        return "actionCard.btns"
    if kind == "text":
        return None if (body.get("text") or {}).get("content") else "text.content"
    return f"msgtype {kind!r}"


def _slack_block_problem(block: dict[str, Any]) -> bool:
    kind = block.get("type")
    if kind == "header":
        return len(block["text"]["text"]) > 150
    if kind == "section":
        return len(block["text"]["text"]) > 3000 or not block["text"]["text"]
    if kind == "actions":
        return (
            not block.get("elements")
            or len(block["elements"]) > 25
            or any(len(e["text"]["text"]) > 75 or len(e.get("url", "")) > 3000 for e in block["elements"])
        )
    return kind not in ("divider", "context")


# ---------------------------------------------------------------------- SMTP
def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "smtp.crt", directory / "smtp.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class SmtpInbox:
    """A real SMTP server (aiosmtpd) requiring TLS (STARTTLS, or implicit SSL) and LOGIN/PLAIN auth."""

    def __init__(
        self, cert: Path, key: Path, *, mode: str = "starttls", username: str = "alerts", password: str = "s3cret-密码"
    ) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        self.mode, self.username, self.password = mode, username, password
        self.port = free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.auth_failures = 0
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert), str(key))
        inbox = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                inbox.messages.append(
                    email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
                )
                inbox.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                return "250 OK"

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == inbox.username and auth_data.password.decode() == inbox.password
            if not ok:
                inbox.auth_failures += 1
            return AuthResult(success=ok, handled=False)

        kwargs: dict[str, Any] = {
            "authenticator": authenticator,
            "auth_require_tls": True,
            "auth_exclude_mechanism": ["CRAM-MD5"],
        }
        if mode == "ssl":  # the whole session is TLS; aiosmtpd only counts STARTTLS as TLS for AUTH
            kwargs["auth_require_tls"] = False
            self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, ssl_context=context, **kwargs)
        else:
            self.controller = Controller(
                Handler(), hostname="127.0.0.1", port=self.port, tls_context=context, require_starttls=True, **kwargs
            )

    def __enter__(self) -> SmtpInbox:
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()


# ---------------------------------------------------------------------- test helpers (config builders, waiting)
FAST_RETRY = {"initial_delay": 0.1, "max_delay": 0.5, "jitter": 0.2, "timeout": 2.0, "give_up_after": 120}
MAIL_USER, MAIL_PASSWORD = "alerts", "s3cret-密码"


def alert(
    n: int = 0, *, brand: str = "海底捞", severity: str = "critical", status: str = "open", sequence: int = 0
) -> Alert:
    """A distinct crisis per ``n`` (own id), with real Chinese content."""
    base = sample_alert(
        severity=severity,
        status=status,
        sequence=sequence,
        brand=brand,
        now=datetime(2026, 11, 20, 13, 0, tzinfo=UTC) + timedelta(hours=n),
    )
    return base


def webhook(rx, name: str = "ops-hook", secret: str = "hook-secret", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "webhook", "url": rx.urls["webhook"], "secret": secret, **extra}


def dingtalk(rx, name: str = "crisis-dingtalk", secret: str = "SECdingtalk", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "dingtalk", "url": rx.urls["dingtalk"], "secret": secret, **extra}


def mail_channel(inbox, cert, name: str = "pr-mail", password: str = MAIL_PASSWORD, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "email",
        "host": "127.0.0.1",
        "port": inbox.port,
        "security": inbox.mode,
        "username": MAIL_USER,
        "password": password,
        "from": "聆听告警 <alerts@lingting.test>",
        "to": ["公关部 <pr@brand.test>"],
        "ca_file": str(cert),
        **extra,
    }


def notify_section(channels: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"channels": channels, "retry": FAST_RETRY, **extra}


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait until ``predicate()``; returns the seconds it took. Fails the test with ``what`` on timeout."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def log_docs(notifier, **match: str) -> list[dict[str, Any]]:
    """Delivery log documents (refreshed), filtered by exact field values."""
    es = notifier._es
    await es.indices.refresh(index=notifier.log.alias)
    resp = await es.search(index=notifier.log.alias, size=1000, query={"match_all": {}})
    docs = [h["_source"] | {"_id": h["_id"]} for h in resp["hits"]["hits"]]
    return [d for d in docs if all(d.get(k) == v for k, v in match.items())]
