"""Who is asking: a bearer token (scripts) or a signed session cookie (browsers, after /login).

Two roles: ``operator`` (``api.token``: may acknowledge, assign, resolve) and ``viewer`` (``web.viewer_token``:
reads only). Without either every page answers 401 with the sign-in form and no data. The cookie is
``role|name|expiry|hmac``; it is HttpOnly and SameSite=Strict, so another site cannot post a form with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.settings import Settings

COOKIE = "lingting_session"
ROLES = ("viewer", "operator")


@dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def may_act(self) -> bool:
        return self.role == "operator"


class Auth:
    def __init__(self, settings: Settings) -> None:
        self.operator_token = settings.api.token or ""
        viewer = settings.web.viewer_token
        self.viewer_token = viewer.get_secret_value() if viewer else ""
        secret = settings.web.session_secret
        self.secret = (secret.get_secret_value() if secret else "") or self.operator_token
        self.ttl = settings.web.session_ttl

    @property
    def configured(self) -> bool:
        return bool(self.operator_token and self.secret)

    def role_of(self, token: str) -> str | None:
        """The role a token grants (compared in constant time), or None."""
        if self.operator_token and hmac.compare_digest(token.encode(), self.operator_token.encode()):
            return "operator"
        if self.viewer_token and hmac.compare_digest(token.encode(), self.viewer_token.encode()):
            return "viewer"
        return None

    def _mac(self, payload: str) -> str:
        return hmac.new(self.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()

    def cookie(self, user: User, now: float | None = None) -> str:
        name = base64.urlsafe_b64encode(user.name.encode()).decode()
        payload = f"{user.role}|{name}|{int((now or time.time()) + self.ttl)}"
        return f"{payload}|{self._mac(payload)}"

    def from_cookie(self, value: str, now: float | None = None) -> User | None:
        try:
            role, name, exp, mac = value.split("|")
            if role not in ROLES or int(exp) < (now or time.time()):
                return None
            if not hmac.compare_digest(mac, self._mac(f"{role}|{name}|{exp}")):
                return None
            return User(base64.urlsafe_b64decode(name.encode()).decode(), role)
        except (ValueError, UnicodeDecodeError):
            return None

    def from_headers(self, authorization: str, cookie: str | None) -> User | None:
        if authorization.startswith("Bearer "):
            role = self.role_of(authorization[7:].strip())
            return User("api", role) if role else None
        return self.from_cookie(cookie) if cookie else None
