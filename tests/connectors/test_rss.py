"""The RSS/Atom connector against a real local HTTP server: parsing of Chinese feeds, conditional GET (304),
retries of failing feeds while the others go on, and exactly-once publishing to the real Kafka across kill -9."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import yaml

from connectors.config import RssConfig, RssFeedConfig
from connectors.rss import ONCE_ATTEMPTS, RssSource, html_to_text, native_id, route_platform, weibo_mid
from connectors.testing import as_pairs
from pipeline.stack.config import free_port
from tests.connectors.kafka_topic import connect_command, key_counts

ROOT = Path(__file__).resolve().parents[2]

# -- a real feed server ---------------------------------------------------------------------------------------------


@dataclass
class Feed:
    body: Callable[[], bytes]
    content_type: str = "application/rss+xml; charset=utf-8"
    validator: str = "etag"  # etag | last-modified | none
    fail_with: list[int] = field(default_factory=list)  # statuses to answer first, one per request
    modified: str = "Mon, 23 Nov 2026 02:00:00 GMT"


class FeedServer:
    """ThreadingHTTPServer on 127.0.0.1:0; records every request (path, conditional headers, status)."""

    def __init__(self) -> None:
        self.feeds: dict[str, Feed] = {}
        self.log: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                feed = server.feeds.get(self.path)
                entry = {
                    "path": self.path,
                    "if_none_match": self.headers.get("If-None-Match"),
                    "if_modified_since": self.headers.get("If-Modified-Since"),
                    "user_agent": self.headers.get("User-Agent"),
                }
                status, headers, body = self._answer(feed)
                entry["status"] = status
                server.log.append(entry)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _answer(self, feed: Feed | None) -> tuple[int, dict[str, str], bytes]:
                if feed is None:
                    return 404, {"Content-Type": "text/plain"}, "没有这个路由 / route not found".encode()
                if feed.fail_with:
                    return feed.fail_with.pop(0), {"Content-Type": "text/plain"}, b"upstream error"
                body = feed.body()
                headers = {"Content-Type": feed.content_type}
                if feed.validator == "etag":
                    etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                    headers["ETag"] = etag
                    if self.headers.get("If-None-Match") == etag:
                        return 304, {"ETag": etag}, b""
                elif feed.validator == "last-modified":
                    headers["Last-Modified"] = feed.modified
                    if self.headers.get("If-Modified-Since") == feed.modified:
                        return 304, {}, b""
                return 200, headers, body

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def statuses(self, path: str) -> list[int]:
        return [e["status"] for e in self.log if e["path"] == path]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = FeedServer()
    yield srv
    srv.close()


# -- Chinese fixtures -----------------------------------------------------------------------------------------------

WEIBO_ITEMS = [
    # (bid, html description, pubDate)
    (
        "z0JH2lOMb",
        '中国移动5G信号太差了<img alt="[怒]" src="https://face.t.sinajs.cn/t4/appstyle/expression/ext/'
        'normal/7c/2018new_nu_org.png" style="width:1em;height:1em;"><br><a href="https://m.weibo.cn/'
        'search?containerid=231522type%3D1%26q%3D%23%E4%B8%AD%E5%9B%BD%E7%A7%BB%E5%8A%A8%23">'
        '#中国移动信号#</a> 😡<br><img src="https://wx1.sinaimg.cn/large/abc.jpg">',
        "Mon, 23 Nov 2026 10:00:00 +0800",
    ),
    (
        "NxYzAbCd1",
        '转发微博 [哈哈] //<a href="https://weibo.com/n/蔚来汽车">@蔚来汽车</a>:今晚八点新车发布会🎉 #蔚来ET9#',
        "Mon, 23 Nov 2026 11:30:00 +0800",
    ),
    (
        "PqRsTuVw2",
        "<p>海底撈的服務真的很好，點讚👍</p><p>排隊兩個小時也值得 [心]</p>",
        "Mon, 23 Nov 2026 12:00:00 +0800",
    ),
]


def rss_item(bid: str, html: str, date: str, uid: str = "1195230310") -> str:
    link = f"https://weibo.com/{uid}/{bid}"
    title = html_to_text(html)[:20]
    return (
        f"<item><title>{escape(title)}</title><description>{escape(html)}</description>"
        f'<pubDate>{date}</pubDate><guid isPermaLink="true">{link}</guid><link>{link}</link>'
        f"<author>央视新闻</author></item>"
    )


def weibo_rss(items: list[tuple[str, str, str]]) -> bytes:
    body = "".join(rss_item(*item) for item in reversed(items))  # newest first, like RSSHub
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>央视新闻的微博</title>'
        f"<link>https://weibo.com/1195230310/</link><description>央视新闻的微博</description>{body}"
        "</channel></rss>"
    ).encode()


def atom(entries: list[tuple[str, str, str, str | None]]) -> bytes:
    parts = []
    for ident, title, html, updated in entries:
        date = f"<updated>{updated}</updated>" if updated else ""
        parts.append(
            f"<entry><id>{ident}</id><title>{escape(title)}</title>"
            f'<link href="https://news.example.cn/{ident.rsplit(":", 1)[-1]}.html"/>{date}'
            f'<content type="html">{escape(html)}</content></entry>'
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>财经快讯</title><id>tag:news.example.cn,2026:feed</id><updated>2026-11-23T04:00:00Z</updated>"
        + "".join(parts)
        + "</feed>"
    ).encode()


ATOM_ENTRIES = [
    (
        "tag:news.example.cn,2026:1",
        "小米汽车SU7交付延迟",
        "<p>小米汽车SU7交付延迟，车主维权&amp;投诉</p><script>alert('x')</script><p>官方：正在排查 [衰]</p>",
        "2026-11-23T03:00:00Z",
    ),
    ("tag:news.example.cn,2026:2", "瑞幸咖啡回应涨价", "<div>瑞幸咖啡回应涨价传闻：<b>不涨价</b></div>", None),
]

GBK_RSS = (
    '<?xml version="1.0" encoding="gb2312"?><rss version="2.0"><channel><title>豆瓣小组</title>'
    "<item><title>瑞幸咖啡又涨价了[泪]</title><description>瑞幸咖啡又涨价了[泪] #打工人#</description>"
    "<link>https://www.douban.com/group/topic/300123456/</link><guid>https://www.douban.com/group/topic/"
    "300123456/</guid><pubDate>Sun, 22 Nov 2026 20:00:00 +0800</pubDate></item>"
    "</channel></rss>"
).encode("gb2312")


def once(config: RssConfig, resume=None) -> tuple[list, dict | None, RssSource]:
    """One ``--once`` round: the posts and the last position."""
    source = RssSource(config, once=True)
    posts, position = [], None
    for post, at in as_pairs(source.items(resume)):
        if post is not None:
            posts.append(post)
        position = at  # the last position is what a resumed run starts from
    return posts, position, source


def cfg(*urls: str, **kwargs) -> RssConfig:
    feeds = [u if isinstance(u, RssFeedConfig) else RssFeedConfig(url=u) for u in urls]
    return RssConfig(feeds=feeds, timeout=5, **kwargs)


# -- tests ----------------------------------------------------------------------------------------------------------


def test_html_to_text_routes_and_ids():
    text = html_to_text(WEIBO_ITEMS[0][1])
    assert text == "中国移动5G信号太差了[怒]\n#中国移动信号# 😡"
    assert (
        html_to_text("<p>海底撈&amp;服務</p><script>var x='<p>';</script><style>p{}</style><p>好</p>")
        == "海底撈&服務\n好"
    )
    assert weibo_mid("z0JH2lOMb") == "3501756485200075" and weibo_mid("4912345678901234") == "4912345678901234"
    assert route_platform("https://rsshub.app/weibo/user/1195230310") == "weibo"
    assert route_platform("https://rss.example.com/zhihu/people/activities/zhang") == "zhihu"
    assert route_platform("https://rsshub.app/bilibili/user/video/2267573") == "bilibili"
    assert route_platform("https://rsshub.app/xiaohongshu/user/593032945e87e77791e03696/notes") == "xiaohongshu"
    assert route_platform("https://www.36kr.com/feed") == "news"
    assert route_platform("https://rsshub.app/weibo/user/1", "weibo_intl") == "weibo_intl"
    assert native_id("bilibili", "https://www.bilibili.com/video/BV1GJ411x7h7?p=1") == "BV1GJ411x7h7"
    assert native_id("zhihu", "https://www.zhihu.com/question/123/answer/4567") == "4567"
    assert native_id("zhihu", "https://www.zhihu.com/question/123") is None


def test_rss_atom_and_gb2312_entries_become_posts(server):
    server.feeds["/weibo/user/1195230310"] = Feed(lambda: weibo_rss(WEIBO_ITEMS))
    server.feeds["/caijing/atom.xml"] = Feed(lambda: atom(ATOM_ENTRIES), content_type="application/atom+xml")
    server.feeds["/douban/group/blabla"] = Feed(lambda: GBK_RSS, content_type="application/xml")
    config = cfg(
        server.url("/weibo/user/1195230310"),
        server.url("/caijing/atom.xml"),
        RssFeedConfig(url=server.url("/douban/group/blabla"), name="豆瓣小组", platform="douban"),
    )
    before = datetime.now(UTC)
    posts, position, source = once(config)
    by_key = {p.key: p for p in posts}
    assert len(posts) == 6 == len(by_key)

    first = by_key["weibo:3501756485200075"]  # weibo.com/uid/z0JH2lOMb → the API's numeric mid
    assert first.text == "中国移动5G信号太差了[怒]\n#中国移动信号# 😡"
    assert first.url == "https://weibo.com/1195230310/z0JH2lOMb"
    assert first.author.id == "1195230310" and first.author.name == "央视新闻"
    assert first.created_at == datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    weibo = [p for p in posts if p.platform == "weibo"]
    assert [p.created_at.hour for p in weibo] == [2, 3, 4], "oldest first"
    assert "//@蔚来汽车:今晚八点新车发布会🎉 #蔚来ET9#" in weibo[1].text
    assert weibo[2].text == "海底撈的服務真的很好，點讚👍\n排隊兩個小時也值得 [心]"

    news = [p for p in posts if p.platform == "news"]
    # the title is dropped when the body starts with it; <script> is gone; inline <b> does not break the line
    assert {p.text for p in news} == {
        "小米汽车SU7交付延迟，车主维权&投诉\n官方：正在排查 [衰]",
        "瑞幸咖啡回应涨价传闻：不涨价",
    }
    assert {p.author.name for p in news} == {"财经快讯"}
    undated = next(p for p in news if "瑞幸" in p.text)
    assert undated.created_at >= before, "no date in the entry: the fetch time"
    assert undated.url == "https://news.example.cn/2.html"

    douban = next(p for p in posts if p.platform == "douban")
    assert douban.id == "300123456" and douban.text.startswith("瑞幸咖啡又涨价了[泪]") and "#打工人#" in douban.text
    assert douban.created_at == datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert json.loads(json.dumps(position)) == position, "the position must be JSON for the checkpoint"
    assert all(e["user_agent"].startswith("lingting-rss/") for e in server.log)

    again, _, _ = once(config)  # a fresh run without the position: the same keys (ids are stable)
    assert sorted(p.key for p in again) == sorted(by_key)


def test_conditional_get_gives_304_and_only_new_entries_are_published(server):
    items = list(WEIBO_ITEMS)
    server.feeds["/weibo/user/1195230310"] = Feed(lambda: weibo_rss(items))
    server.feeds["/caijing/atom.xml"] = Feed(
        lambda: atom(ATOM_ENTRIES), validator="last-modified", content_type="application/atom+xml"
    )
    config = cfg(server.url("/weibo/user/1195230310"), server.url("/caijing/atom.xml"))
    posts, position, _ = once(config)
    assert len(posts) == 5

    posts, position, source = once(config, position)
    assert posts == []
    assert server.log[-2:][0]["status"] == server.log[-1]["status"] == 304
    weibo_req = [e for e in server.log if e["path"].startswith("/weibo")][-1]
    atom_req = [e for e in server.log if e["path"].startswith("/caijing")][-1]
    assert weibo_req["if_none_match"] and atom_req["if_modified_since"] == "Mon, 23 Nov 2026 02:00:00 GMT"
    assert source.stats[config.feeds[0].url].not_modified == 1

    items.append(
        ("QaBcDeFg3", "<p>中國移動客服回覆了，態度還行 🙂 //@用户小王:真的假的</p>", "Tue, 24 Nov 2026 09:00:00 +0800")
    )
    items.append(("QaBcDeFg4", "还是没信号[抓狂][抓狂] #中国移动信号#", "Tue, 24 Nov 2026 09:05:00 +0800"))
    posts, position, _ = once(config, position)
    assert [p.text for p in posts] == [
        "中國移動客服回覆了，態度還行 🙂 //@用户小王:真的假的",
        "还是没信号[抓狂][抓狂] #中国移动信号#",
    ]
    assert server.statuses("/weibo/user/1195230310")[-1] == 200

    posts, _, _ = once(config, position)
    assert posts == [] and server.statuses("/weibo/user/1195230310")[-1] == 304


def test_failing_feed_is_retried_with_backoff_while_the_other_goes_on(server, caplog):
    server.feeds["/weibo/user/1195230310"] = Feed(lambda: weibo_rss(WEIBO_ITEMS), fail_with=[500, 503])
    server.feeds["/caijing/atom.xml"] = Feed(lambda: atom(ATOM_ENTRIES), content_type="application/atom+xml")
    flaky = RssFeedConfig(url=server.url("/weibo/user/1195230310"), name="央视新闻微博")
    config = cfg(flaky, server.url("/caijing/atom.xml"), retry_backoff=0.3, max_backoff=0.5)
    stop = threading.Event()
    source = RssSource(config, stop=stop)  # daemon mode
    arrivals: list[tuple[float, str]] = []
    deadline = time.monotonic() + 20
    with caplog.at_level(logging.WARNING, logger="lingting.connect.rss"):
        for post, _ in as_pairs(source.items(None)):
            if post is not None:
                arrivals.append((time.monotonic(), post.platform))
            if sum(p == "weibo" for _, p in arrivals) == 3 or time.monotonic() > deadline:
                stop.set()
    platforms = [p for _, p in arrivals]
    assert Counter(platforms) == {"weibo": 3, "news": 2}
    assert platforms[:2] == ["news", "news"], "the healthy feed is not held up by the failing one"
    assert server.statuses("/weibo/user/1195230310") == [500, 503, 200]
    stats = source.stats[flaky.url]
    assert stats.failures == 2 and stats.consecutive_failures == 0 and "HTTP 503" in stats.last_error
    warnings = [
        r.getMessage()
        for r in caplog.records  # this connector's own: other clients may log too
        if r.levelno == logging.WARNING and r.name == "lingting.connect.rss"
    ]
    assert len(warnings) == 2 and all("央视新闻微博" in w and flaky.url in w for w in warnings)
    assert "HTTP 500" in warnings[0] and "retrying in 0.3 s" in warnings[0] and "retrying in 0.5 s" in warnings[1]


def test_once_gives_up_on_broken_feeds_and_publishes_the_rest(server):
    server.feeds["/weibo/user/1195230310"] = Feed(lambda: weibo_rss(WEIBO_ITEMS))
    server.feeds["/html"] = Feed(
        lambda: "<html><body>请登录后访问</body></html>".encode(), content_type="text/html; charset=utf-8"
    )
    refused = f"http://127.0.0.1:{free_port()}/weibo/user/2"  # a port nobody listens on: connection refused
    config = cfg(
        server.url("/weibo/user/1195230310"),
        server.url("/weibo/user/missing"),
        server.url("/html"),
        refused,
        retry_backoff=0.05,
    )
    posts, _, source = once(config)
    assert len(posts) == 3 and {p.platform for p in posts} == {"weibo"}
    assert source.failed == {server.url("/weibo/user/missing"), server.url("/html"), refused}
    assert server.statuses("/weibo/user/missing") == [404] * ONCE_ATTEMPTS
    assert "route does not exist" in source.stats[server.url("/weibo/user/missing")].last_error
    assert "not an RSS/Atom feed" in source.stats[server.url("/html")].last_error
    assert "cannot connect" in source.stats[refused].last_error


def test_config_typos_and_bad_values_name_the_key(tmp_path):
    from pipeline.settings import load_settings
    from schemas.errors import ConfigError

    path = tmp_path / "lingting.yaml"
    feed = "connectors:\n  rss:\n    feeds:\n      - {url: 'https://rsshub.app/weibo/user/1', %s}\n"
    path.write_text(feed % "intervall: 60", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"connectors\.rss\.feeds\[0\]\.intervall"):
        load_settings(path)
    path.write_text(feed % "interval: 1", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"connectors\.rss\.feeds\[0\]\.interval: .*greater than or equal to 10"):
        load_settings(path)
    path.write_text(
        "connectors:\n  rss:\n    feeds:\n      - url: https://rsshub.app/weibo/user/1\n"
        "        interval: 60\n        platform: weibo\n    max_backoff: 120\n",
        encoding="utf-8",
    )
    rss = load_settings(path).connectors.rss
    assert rss.feeds[0].interval == 60 and rss.max_backoff == 120


@pytest.mark.integration
def test_daemon_publishes_new_entries_once_and_stops_cleanly(server, make_settings, tmp_path):

    from connectors.checkpoint import Checkpoint
    from connectors.publisher import Publisher
    from connectors.run import run_source
    from pipeline.topics import ensure_topics

    items = list(WEIBO_ITEMS)
    server.feeds["/weibo/user/1195230310"] = Feed(lambda: weibo_rss(items))
    settings = make_settings()
    ensure_topics(settings)
    # below the config minimum of 10 s, only so the test sees several polls quickly
    fast = RssFeedConfig.model_construct(
        url=server.url("/weibo/user/1195230310"), name=None, interval=0.3, platform=None
    )
    stop = threading.Event()
    source = RssSource(cfg(fast), stop=stop)
    publisher = Publisher(settings.kafka)
    store = Checkpoint(tmp_path / "cp.json")
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(sent=run_source(source, publisher, store, stop=stop)))
    runner.start()
    try:
        wait_for(lambda: server.statuses("/weibo/user/1195230310")[-2:] == [304, 304])
        items.append(("QaBcDeFg3", "海底捞新品好吃[赞]", "Tue, 24 Nov 2026 09:00:00 +0800"))
        wait_for(lambda: source.stats[fast.url].entries == 4)
        wait_for(lambda: server.statuses("/weibo/user/1195230310")[-1] == 304)
    finally:
        stop.set()
        runner.join(10)
        publisher.close()
    assert not runner.is_alive() and result["sent"] == 4
    saved = json.loads((tmp_path / "cp.json").read_text())
    assert len(saved["position"]["feeds"][fast.url]["seen"]) == 4 and saved["position"]["feeds"][fast.url]["etag"]
    keys = key_counts(settings.kafka.raw_topic, settings.kafka.bootstrap)
    assert len(keys) == 4 and max(keys.values()) == 1 and "weibo:3501756485200075" in keys


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def big_rss(n: int) -> bytes:
    def item(i: int) -> str:
        date = format_datetime(datetime.fromtimestamp(1_795_000_000 + i, UTC), usegmt=True)
        return (
            f"<item><title>第{i}条</title><description>&lt;p&gt;第{i}条：蔚来的服务不错[赞] #蔚来# 😍&lt;/p&gt;"
            f'</description><guid isPermaLink="false">weibo-{i}</guid><link>https://weibo.com/1195230310/'
            f"{weibo_bid(4_900_000_000_000_000 + i)}</link><pubDate>{date}</pubDate></item>"
        )

    items = "".join(item(i) for i in reversed(range(n)))
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>蔚来汽车的微博</title>'
        + items
        + "</channel></rss>"
    ).encode()


def checkpointed(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())["position"]
    except (FileNotFoundError, ValueError, KeyError):
        return None


def weibo_bid(mid: int) -> str:
    """The inverse of weibo_mid (7-digit groups → 4-char base62), to build realistic links."""
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    digits, out = str(mid), ""
    while digits:
        group, digits = int(digits[-7:]), digits[:-7]
        chunk = ""
        while group:
            group, r = divmod(group, 62)
            chunk = alphabet[r] + chunk
        out = (chunk.rjust(4, "0") if digits else chunk) + out
    return out


@pytest.mark.integration
def test_kill_9_and_restart_publishes_every_entry_exactly_once(server, make_config, tmp_path):

    total = 3000
    body = big_rss(total)
    server.feeds["/weibo/user/1195230310"] = Feed(lambda: body)
    config = tmp_path / "lingting.yaml"
    data = make_config()
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    cmd = connect_command("rss", config, tmp_path / "cp.json", "--feed", server.url("/weibo/user/1195230310"))
    first = subprocess.Popen(cmd + ["--rate", "500"], cwd=ROOT, stderr=subprocess.DEVNULL)
    wait_for(lambda: checkpointed(tmp_path / "cp.json") is not None, timeout=60)
    time.sleep(1.5)  # more posts in flight after the first checkpoint with a position
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    saved = json.loads((tmp_path / "cp.json").read_text())
    seen = saved["position"]["feeds"][server.url("/weibo/user/1195230310")]["seen"]
    assert 0 < len(seen) < total, "the kill must land mid-feed for this test to mean anything"

    second = subprocess.run(cmd + ["--once"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr[-2000:]
    assert f'"new_entries": {total - len(seen)}' in second.stderr  # the checkpointed entries are not re-read

    def topic_keys() -> Counter:
        return key_counts(f"{data['kafka']['topic_prefix']}.posts.raw", data["kafka"]["bootstrap"])

    keys = topic_keys()
    assert len(keys) == total and all(k.startswith("weibo:49") for k in keys)
    assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1][:5]

    # the daemon: first poll is a 304 (validators were checkpointed), then SIGTERM stops it cleanly
    polls = len(server.log)
    daemon = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(server.log) > polls, timeout=60)
    assert server.log[-1]["status"] == 304
    daemon.send_signal(signal.SIGTERM)
    _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err[-2000:]
    assert '"not_modified": 1' in err and topic_keys() == keys
