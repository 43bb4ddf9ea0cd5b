"""Signed action links: a crisis manager clicks 确认/认领/解除 in the chat message and lands on the
acknowledge API without a token. The link carries ``exp`` and an HMAC over (action, alert id, exp); the page
it opens asks for a name and POSTs back (so chat link previews can never acknowledge an alert by themselves)."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import urlencode

ACTIONS = ("acknowledge", "assign", "resolve")
LINK_ACTIONS = (*ACTIONS, "posts")  # posts: read-only list of the crisis' posts in Elasticsearch


def _mac(secret: str, action: str, alert_id: str, exp: int) -> str:
    msg = f"{action}\n{alert_id}\n{exp}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class LinkSigner:
    public_url: str
    secret: str
    ttl: float = 7 * 86400.0

    def link(self, action: str, alert_id: str, *, now: float | None = None) -> str:
        exp = int((now if now is not None else time.time()) + self.ttl)
        query = urlencode(
            {"action": action, "alert": alert_id, "exp": exp, "sig": _mac(self.secret, action, alert_id, exp)}
        )
        path = "posts" if action == "posts" else "act"
        return f"{self.public_url.rstrip('/')}/{path}?{query}"

    def links(self, alert_id: str, *, now: float | None = None) -> dict[str, str]:
        return {a: self.link(a, alert_id, now=now) for a in LINK_ACTIONS}


def verify_link(
    secret: str, action: str, alert_id: str, exp: str | int, sig: str, *, now: float | None = None
) -> str | None:
    """None when valid, else the reason (for the page shown to the person who clicked)."""
    if action not in LINK_ACTIONS:
        return f"unknown action {action!r}"
    try:
        exp_i = int(exp)
    except (TypeError, ValueError):
        return "malformed link"
    if exp_i < (now if now is not None else time.time()):
        return "link expired"
    if not hmac.compare_digest(_mac(secret, action, alert_id, exp_i), sig or ""):
        return "bad signature"
    return None
