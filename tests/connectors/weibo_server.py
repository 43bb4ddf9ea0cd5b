"""A local Weibo-like open API for tests: a real HTTP server (http.server in a thread) on 127.0.0.1.

It answers the way api.weibo.com documents: ``/2/statuses/user_timeline.json`` (uid or screen_name, since_id,
max_id, count ≤ 100, page; newest first; ``total_number`` = the account's statuses), ``/2/search/topics.json``
(q, count, page; no since_id, as documented), ``/2/account/rate_limit_status.json``, and errors as
``{"error": ..., "error_code": ..., "request": ...}``. The token is accepted as the access_token parameter or as
the ``Authorization: OAuth2 <token>`` header, as documented. Faults are queued with :meth:`WeiboServer.fail`.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CHINA = timezone(timedelta(hours=8))
FAULTS = {
    "rate_limit": (403, {"error": "User requests out of rate limit!", "error_code": 10023}),
    "ip_rate_limit": (403, {"error": "IP requests out of rate limit!", "error_code": 10022}),
    "expired_token": (400, {"error": "expired_token", "error_code": 21327}),
    "invalid_token": (401, {"error": "invalid_access_token", "error_code": 21332}),
}

TEXTS = [
    '海底捞后厨有老鼠？[怒][怒] 视频都拍到了 <a href="http://t.cn/A6abcdE1" target="_blank">网页链接</a>',
    '<a href="/n/海底捞">@海底捞</a> 你们给个说法！#海底捞后厨# 😡😡',
    "排了兩個小時的隊，服務還是這麼好[贊] #海底撈#",
    '转发微博 //<a href="/n/吃货小王">@吃货小王</a>:太恶心了[吐] //@美食博主:求证中，先别急',
    "今天的番茄锅底太好喝了😋😋<br />下次还来 [哈哈]",
    "价格<100元，质量>预期 &amp; 服务好 [good] #蜜雪冰城#",
    '心疼店员 <img alt="[泪]" src="https://face.t.sinajs.cn/t4/appstyle/expression/ext/normal/4a/2018new_leimu_org.png"'
    ' style="width:1em; height:1em;" /> #打工人#',
    "蔚来换电站又排队了，等了40分钟[抓狂] //@蔚来车主俱乐部:官方回应了吗？",
]


def weibo_time(when: datetime) -> str:
    """The API's created_at format, e.g. ``Tue Nov 24 10:15:00 +0800 2026`` (English names, any locale)."""
    days = "Mon Tue Wed Thu Fri Sat Sun".split()
    months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
    when = when.astimezone(CHINA)
    return f"{days[when.weekday()]} {months[when.month - 1]} {when.day:02d} {when:%H:%M:%S} +0800 {when.year}"


def user(uid: int, name: str, followers: int = 1234, verified: bool = False) -> dict[str, Any]:
    return {
        "id": uid,
        "idstr": str(uid),
        "screen_name": name,
        "followers_count": followers,
        "verified": verified,
        "created_at": weibo_time(datetime(2012, 3, 1, 9, 30, tzinfo=CHINA)),
    }


def status(
    sid: int,
    author: dict[str, Any],
    text: str,
    *,
    minute: int = 0,
    retweeted: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data = {
        "created_at": weibo_time(datetime(2026, 11, 24, 10, 15, tzinfo=CHINA) + timedelta(minutes=minute)),
        "id": sid,
        "idstr": str(sid),
        "mid": str(sid),
        "text": text,
        "source": '<a href="#">iPhone客户端</a>',
        "user": author,
        "reposts_count": sid % 50,
        "comments_count": sid % 30,
        "attitudes_count": sid % 70,
    }
    if retweeted is not None:
        data["retweeted_status"] = retweeted
    data.update(extra)
    return data


def timeline(
    uid: int,
    name: str,
    n: int,
    *,
    first_id: int,
    step: int = 7,
    repost_every: int = 0,
    original_base: int = 4_900_000_000_000_000,
) -> list[dict[str, Any]]:
    """``n`` statuses of one account, oldest first; every ``repost_every``-th reposts its own original."""
    author, out = user(uid, name, followers=10_000 + uid % 1000, verified=uid % 2 == 0), []
    for i in range(n):
        sid = first_id + i * step
        retweeted = None
        if repost_every and i % repost_every == 0:
            origin = user(7_000_000 + i, f"原博主{i}", followers=500_000, verified=True)
            retweeted = status(original_base + i, origin, f"原微博第{i}条：{TEXTS[(i + 3) % len(TEXTS)]}", minute=-60)
        out.append(status(sid, author, f"{TEXTS[i % len(TEXTS)]} 第{i}条", minute=i, retweeted=retweeted))
    return out


class WeiboServer:
    """Holds timelines and search results; ``with WeiboServer() as api: api.url``."""

    def __init__(self, token: str = "2.00tok-valid") -> None:
        self.token = token
        self.timelines: dict[str, list[dict[str, Any]]] = {}  # uid -> statuses, oldest first
        self.names: dict[str, str] = {}  # screen_name -> uid
        self.searches: dict[str, list[dict[str, Any]]] = {}  # q -> statuses, oldest first
        self.requests: list[dict[str, Any]] = []  # path + params (without the token) per request
        self.urls: list[str] = []  # raw request targets, as a proxy would log them
        self.reset_seconds = 0.3  # what rate_limit_status reports
        self.after_request: Callable[[str, dict[str, str]], None] | None = None
        self._faults: deque[tuple[str, str]] = deque()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    # -- test controls --

    def add_timeline(self, uid: int, statuses: list[dict[str, Any]], screen_name: str | None = None) -> None:
        with self._lock:
            self.timelines.setdefault(str(uid), []).extend(statuses)
            if screen_name:
                self.names[screen_name] = str(uid)

    def add_search(self, q: str, statuses: list[dict[str, Any]]) -> None:
        with self._lock:
            self.searches.setdefault(q, []).extend(statuses)

    def fail(self, kind: str, times: int = 1, path: str = "") -> None:
        """Answer the next ``times`` requests whose path contains ``path`` with a fault: a FAULTS name or
        ``server`` (502 with an HTML body, as a proxy sends) or ``proxy_limit`` (429, HTML, ``Retry-After: 1``)."""
        with self._lock:
            self._faults.extend([(kind, path)] * times)

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> WeiboServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.urls.append(self.path)
                parts = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                auth = self.headers.get("Authorization", "")
                if auth.startswith("OAuth2 "):  # the documented header form of access_token
                    params.setdefault("access_token", auth[len("OAuth2 ") :])
                status_code, body = server._answer(parts.path, params)
                raw = body.encode() if isinstance(body, str) else json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status_code)
                if status_code == 429:
                    self.send_header("Retry-After", "1")
                self.send_header(
                    "Content-Type", "text/html" if isinstance(body, str) else "application/json;charset=UTF-8"
                )
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
                if server.after_request is not None:
                    server.after_request(parts.path, params)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- the API --

    def _answer(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        with self._lock:
            token = params.pop("access_token", None)
            self.requests.append({"path": path, **params, "token_ok": token == self.token})
            if path == "/2/account/rate_limit_status.json":  # not itself rate limited, as documented
                return 200, {
                    "ip_limit": 10000,
                    "limit_time_unit": "HOURS",
                    "remaining_ip_hits": 0,
                    "remaining_user_hits": 0,
                    "reset_time_in_seconds": self.reset_seconds,
                    "user_limit": 150,
                }
            if self._faults and self._faults[0][1] in path:
                kind, _ = self._faults.popleft()
                if kind == "server":
                    return 502, "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
                if kind == "proxy_limit":  # a gateway's limit: no Weibo JSON, a Retry-After header
                    return 429, "<html><body><h1>429 Too Many Requests</h1></body></html>"
                code, err = FAULTS[kind]
                return code, {**err, "request": path}
            if token is None:
                return 403, self._error(path, 21301, "auth faild!")
            if token != self.token:
                return 401, self._error(path, 21332, "invalid_access_token")
            try:
                count = int(params.get("count", 20))
                page = int(params.get("page", 1))
                since_id = int(params.get("since_id", 0))
                max_id = int(params.get("max_id", 0))
            except ValueError:
                return 400, self._error(path, 10017, "Parameter's value invalid, see doc for more info")
            if not 1 <= count <= 100 or page < 1:
                return 400, self._error(
                    path,
                    10017,
                    f"Parameter (count)'s value invalid, expect (1~100), but get ({count}), see doc for more info",
                )
            if path == "/2/statuses/user_timeline.json":
                uid = params.get("uid") or self.names.get(params.get("screen_name", ""), "")
                if not (params.get("uid") or params.get("screen_name")):
                    return 400, self._error(path, 10016, "Miss required parameter (uid) , see doc for more info")
                if uid not in self.timelines:
                    return 400, self._error(path, 20003, "User does not exists!")
                everything = self.timelines[uid]
                chosen = [s for s in everything if s["id"] > since_id and (not max_id or s["id"] <= max_id)]
            elif path == "/2/search/topics.json":
                if not params.get("q"):
                    return 400, self._error(path, 10016, "Miss required parameter (q) , see doc for more info")
                everything = chosen = self.searches.get(params["q"], [])  # no since_id here, as documented
            else:
                return 404, self._error(path, 10014, "Request api not found!")
            newest_first = sorted(chosen, key=lambda s: s["id"], reverse=True)
            return 200, {
                "statuses": newest_first[(page - 1) * count : page * count],
                "previous_cursor": 0,
                "next_cursor": 0,
                "total_number": len(everything),
            }

    @staticmethod
    def _error(path: str, code: int, message: str) -> dict[str, Any]:
        return {"error": message, "error_code": code, "request": path}
