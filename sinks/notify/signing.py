"""Request signatures: lingting's own webhook signature and the ones DingTalk and Feishu document.

* lingting webhook: ``X-Lingting-Timestamp: <unix seconds>`` and
  ``X-Lingting-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>``.
  Receivers recompute it over the raw bytes and reject timestamps older than a few minutes (replays).
* DingTalk 加签: ``sign = urlencode(base64(HMAC-SHA256(key=secret, msg="<ms timestamp>\\n<secret>")))``,
  passed as ``&timestamp=...&sign=...`` query parameters (valid for one hour).
* Feishu custom bot: ``sign = base64(HMAC-SHA256(key="<s timestamp>\\n<secret>", msg=b""))``, passed in the
  JSON body as ``timestamp`` (seconds, string) and ``sign``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote_plus

WEBHOOK_SIGNATURE_HEADER = "X-Lingting-Signature"
WEBHOOK_TIMESTAMP_HEADER = "X-Lingting-Timestamp"
WEBHOOK_DELIVERY_HEADER = "X-Lingting-Delivery"


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_webhook_signature(
    secret: str, timestamp: str, body: bytes, signature: str, *, now: float, tolerance: float = 300.0
) -> bool:
    """What a receiver does: constant-time compare, and refuse stale timestamps (replay protection)."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - ts) > tolerance:
        return False
    return hmac.compare_digest(webhook_signature(secret, ts, body), signature or "")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """URL-encoded DingTalk signature for ``timestamp_ms``."""
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
