"""The Weibo connector against a real local Weibo-like API server (tests/connectors/weibo_server.py):
mapping, since_id paging, rate limits, token errors; and exactly once into the real Kafka across kill -9."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from connectors.config import WeiboConfig
from connectors.html_text import html_to_text
from connectors.testing import as_pairs, invalid
from connectors.weibo import WeiboSource, parse_weibo_time, status_to_post
from schemas.errors import ConfigError
from tests.connectors.kafka_topic import connect_command, key_counts, read_topic
from tests.connectors.weibo_server import TEXTS, WeiboServer, status, timeline, user

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "2.00tok-valid"
UID = 1_195_230_310
FIRST = 5_012_345_678_900_000


def config(api: WeiboServer, *streams: dict, **over) -> WeiboConfig:
    return WeiboConfig(
        base_url=api.url,
        token=TOKEN,
        streams=list(streams) or [{"uid": UID, "count": 100}],
        retry_max_seconds=0.05,
        token_retry_seconds=0.1,
        **over,
    )


def drain(source: WeiboSource, resume=None) -> tuple[list, dict]:
    """Run a --once source to the end: (posts in publish order, last position)."""
    posts, position = [], resume
    for post, at in as_pairs(source.items(resume)):
        if post is not None:
            posts.append(post)
        position = at  # the last position is what a resumed run starts from
    return posts, position


def test_status_mapping_keeps_the_chinese_and_drops_the_html():
    author = user(UID, "海底捞火锅", followers=3_456_789, verified=True)
    original = status(4_900_000_000_000_001, user(42, "吃货小王"), "后厨视频实锤了？[吃惊]", minute=-30)
    st = status(
        5_012_345_678_901_234,
        author,
        '<a href="/n/海底捞">@海底捞</a> 说法呢？[怒] #海底捞后厨# 😡 <a href="http://t.cn/A6x">网页链接</a>'
        '<br />价格<100元 &amp; 服务&gt;预期 <img alt="[泪]" src="https://face.t.sinajs.cn/x.png" />'
        " //@美食博主:排了兩個小時的隊[贊]",
        retweeted=original,
        reposts_count=1520,
        comments_count=386,
        attitudes_count=9041,
    )
    post = status_to_post(st)
    assert post.key == "weibo:5012345678901234"
    assert post.text == (
        "@海底捞 说法呢？[怒] #海底捞后厨# 😡 网页链接\n价格<100元 & 服务>预期 [泪] //@美食博主:排了兩個小時的隊[贊]"
    )
    assert post.created_at == datetime(2026, 11, 24, 10, 15, tzinfo=timezone(timedelta(hours=8)))
    assert (post.author.id, post.author.name, post.author.followers, post.author.verified) == (
        "1195230310",
        "海底捞火锅",
        3_456_789,
        True,
    )
    assert post.author.created_at.year == 2012
    assert (post.metrics.reposts, post.metrics.comments, post.metrics.likes) == (1520, 386, 9041)
    assert post.url == "https://weibo.com/1195230310/5012345678901234"
    assert post.repost_of == "weibo:4900000000000001"
    long = status_to_post(
        {**st, "isLongText": True, "text": "海底捞…全文", "longText": {"longTextContent": "全文很长[怒]"}}
    )
    assert long.text == "全文很长[怒]"
    assert parse_weibo_time("Mon Mar 02 23:59:59 -0500 2026").utcoffset() == timedelta(hours=-5)
    with pytest.raises(ValueError, match="Weibo's format"):
        parse_weibo_time("2026-11-24 10:15:00")
    assert html_to_text("质量<好>差") == "质量<好>差"  # not a tag: kept


def test_config_needs_exactly_one_target_per_stream():
    from pipeline.settings import settings_from_dict

    ok = settings_from_dict({"connectors": {"weibo": {"streams": [{"uid": 123}, {"keyword": "海底捞"}]}}})
    assert [s.key for s in ok.connectors.weibo.streams] == ["uid:123", "keyword:海底捞"]
    for bad, message in [
        ({"streams": [{"uid": 1, "keyword": "海底捞"}]}, "exactly one of keyword, uid"),
        ({"streams": [{"interval": 5}]}, "exactly one of keyword, uid"),
        ({"stream": []}, "connectors.weibo.stream: Extra inputs are not permitted"),
        ({"streams": [{"uid": 1}, {"uid": "1"}]}, "duplicate weibo streams: uid:1"),
    ]:
        with pytest.raises(ConfigError, match=message):
            settings_from_dict({"connectors": {"weibo": bad}})


def test_since_id_paging_has_no_gap_and_no_repeat_even_while_pages_shift():
    with WeiboServer() as api:
        first = timeline(UID, "海底捞火锅", 250, first_id=FIRST, repost_every=10)
        api.add_timeline(UID, first)
        pairs = list(as_pairs(WeiboSource(config(api), once=True).items(None)))
        posts, position = [p for p, _ in pairs if p is not None], pairs[-1][1]
        own = [p for p in posts if p.author.id == str(UID)]
        # each position is a snapshot taken right after its post: what a checkpoint at that point must hold
        assert [pos[f"uid:{UID}"] for p, pos in pairs if p in own] == [p.id for p in own]
        assert [int(p.id) for p in own] == [FIRST + 7 * i for i in range(250)]  # oldest first, all of them
        assert len(posts) == 250 + 25 and len({p.key for p in posts}) == 275  # + the reposted originals
        assert position[f"uid:{UID}"] == str(FIRST + 7 * 249)
        assert list(position["_originals"]) == [p.key for p in posts if p.author.id != str(UID)]  # 25 originals
        assert [r["page"] for r in api.requests] == ["1", "2", "3"] and "since_id" not in api.requests[0]
        assert all(r["token_ok"] for r in api.requests) and not any(TOKEN in url for url in api.urls)
        reposted = posts[posts.index(own[10]) - 1]
        assert own[10].repost_of == reposted.key and reposted.text.startswith("原微博第10条")

        # 130 new statuses; 7 more arrive after page 1 was served, shifting page 2 by 7 (repeats on the API side)
        base = FIRST + 7 * 250
        api.add_timeline(UID, timeline(UID, "海底捞火锅", 130, first_id=base))
        late = timeline(UID, "海底捞火锅", 7, first_id=base + 7 * 130)
        api.after_request = lambda path, params: params.get("page") == "1" and api.add_timeline(UID, late)
        api.requests.clear()
        posts2, position2 = drain(WeiboSource(config(api), once=True), position)
        api.after_request = None
        assert [int(p.id) for p in posts2] == [base + 7 * i for i in range(130)]
        assert api.requests[0]["since_id"] == str(FIRST + 7 * 249)
        posts3, position3 = drain(WeiboSource(config(api), once=True), position2)
        assert [int(p.id) for p in posts3] == [base + 7 * i for i in range(130, 137)]

        # after a restart, an original published before it is reposted again: only the repost is new
        again = status(
            base + 7 * 137, first[0]["user"], "再转一次，太离谱了[怒]", retweeted=first[10]["retweeted_status"]
        )
        api.add_timeline(UID, [again])
        posts4, _ = drain(WeiboSource(config(api), once=True), json.loads(json.dumps(position3)))  # as checkpointed
        assert [p.key for p in posts4] == [f"weibo:{base + 7 * 137}"] and posts4[0].repost_of == reposted.key


def test_a_checkpoint_right_after_a_reposted_original_resumes_without_sending_it_again():
    """The original is published before its repost, at the repost's since_id: a crash between the two resumes
    before the repost, which brings the original back; the checkpointed position says it was sent."""
    with WeiboServer() as api:
        api.add_timeline(UID, timeline(UID, "海底捞火锅", 30, first_id=FIRST, repost_every=10))
        pairs = [(p, pos) for p, pos in as_pairs(WeiboSource(config(api), once=True).items(None)) if p is not None]
        i = next(i for i, (p, _) in enumerate(pairs) if i and p.author.id != str(UID))
        original, position = pairs[i]
        resumed, _ = drain(WeiboSource(config(api), once=True), json.loads(json.dumps(position)))  # as saved
        assert [p.key for p in resumed] == [p.key for p, _ in pairs[i + 1 :]]
        assert resumed[0].repost_of == original.key


def test_keyword_search_filters_what_the_api_does_not_and_stops_at_the_known_ids():
    author = user(88, "蜜雪冰城甜蜜蜜")
    with WeiboServer() as api:
        api.add_search("蜜雪冰城", [status(FIRST + i, author, f"{TEXTS[i % 8]} #蜜雪冰城#{i}") for i in range(120)])
        stream = {"keyword": "蜜雪冰城", "count": 50}
        source = WeiboSource(config(api, stream), once=True)
        posts, position = drain(source)
        assert len(posts) == 120 and position == {"keyword:蜜雪冰城": str(FIRST + 119)}
        assert drain(source)[0] == posts  # started over from the same position (run_source does after a lost
        #                                   Kafka batch): the same posts again, not held back as already seen
        assert api.requests[0]["q"] == "蜜雪冰城"
        api.add_search("蜜雪冰城", [status(FIRST + 200 + i, author, f"雪王新品第{i}杯😋") for i in range(3)])
        api.requests.clear()
        posts2, _ = drain(WeiboSource(config(api, stream), once=True), position)
        assert [p.text for p in posts2] == ["雪王新品第0杯😋", "雪王新品第1杯😋", "雪王新品第2杯😋"]
        assert len(api.requests) == 1  # page 1 already reached known ids: no page 2


def test_rate_limits_and_server_errors_back_off_and_every_status_still_arrives(caplog):
    caplog.set_level(logging.INFO, logger="lingting.connect.weibo")
    with WeiboServer() as api:
        api.add_timeline(UID, timeline(UID, "海底捞火锅", 300, first_id=FIRST))
        api.fail("server", 2, path="user_timeline")
        api.fail("rate_limit", 3, path="user_timeline")
        api.fail("ip_rate_limit", 1, path="user_timeline")
        api.fail("proxy_limit", 1, path="user_timeline")
        api.reset_seconds = 0.25
        started = time.monotonic()
        source = WeiboSource(config(api), once=True)
        errors_before = source.metrics.totals["source_errors"]
        posts, position = drain(source)
        elapsed = time.monotonic() - started
    assert [int(p.id) for p in posts] == [FIRST + 7 * i for i in range(300)]
    assert position == {f"uid:{UID}": str(FIRST + 7 * 299)}
    assert source.metrics.totals["source_errors"] - errors_before == 7
    assert sum(r["path"] == "/2/account/rate_limit_status.json" for r in api.requests) == 4
    assert elapsed >= 4 * 0.25 + 1  # waited for the reset the API reported (and the proxy's Retry-After)
    text = caplog.text
    assert text.count("rate limited by Weibo (error_code 10023: User requests out of rate limit!") == 3
    assert "error_code 10022" in text and "HTTP 502" in text and "HTTP 429 without an error_code" in text
    assert "answers again after 7 failed attempts" in text
    assert TOKEN not in text


def test_bad_token_is_a_clear_error_and_the_daemon_keeps_retrying(caplog):
    caplog.set_level(logging.INFO, logger="lingting.connect.weibo")
    with WeiboServer() as api:
        api.add_timeline(UID, timeline(UID, "海底捞火锅", 40, first_id=FIRST))
        # --once: the stream is reported as failed with what to do; nothing published
        api.fail("expired_token", 1)
        once = WeiboSource(config(api), once=True)
        assert drain(once)[0] == []
        assert "LINGTING_WEIBO_TOKEN" in once.failed[f"uid:{UID}"] and "21327" in once.failed[f"uid:{UID}"]

        # daemon: rejected 3 times (expired, then invalid), logged each time, then the token works again
        caplog.clear()
        api.fail("expired_token", 2)
        api.fail("invalid_token", 1)
        stop = threading.Event()
        daemon = WeiboSource(config(api, {"uid": UID, "interval": 0.2}), stop=stop)
        seen = []
        for post, _ in as_pairs(daemon.items(None)):
            if post is not None:
                seen.append(post.id)
            if len(seen) == 40:
                stop.set()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3 and all("LINGTING_WEIBO_TOKEN" in r.getMessage() for r in errors)
    assert "error_code 21327: expired_token" in errors[0].getMessage()
    assert "error_code 21332: invalid_access_token" in errors[2].getMessage()
    assert f"uid:{UID} (GET /2/statuses/user_timeline.json page 1)" in errors[0].getMessage()
    assert seen == [str(FIRST + 7 * i) for i in range(40)] and TOKEN not in caplog.text


def test_other_api_errors_name_the_code_and_the_stream_and_other_streams_go_on(caplog):
    with WeiboServer() as api:
        api.add_timeline(UID, timeline(UID, "海底捞火锅", 5, first_id=FIRST), screen_name="海底捞火锅")
        source = WeiboSource(config(api, {"uid": 999}, {"screen_name": "海底捞火锅"}), once=True)
        posts, position = drain(source)
    assert len(posts) == 5 and position == {"screen_name:海底捞火锅": str(FIRST + 28)}
    assert source.failed == {"uid:999": "error_code 20003: User does not exists! (HTTP 400)"}
    assert "uid:999 (GET /2/statuses/user_timeline.json page 1): Weibo API error error_code 20003" in caplog.text


def test_a_status_that_cannot_be_mapped_is_reported_and_skipped():
    reported = []
    with WeiboServer() as api:
        good = timeline(UID, "海底捞火锅", 3, first_id=FIRST)
        good[1]["created_at"] = "昨天 10:15"
        api.add_timeline(UID, good)
        source = WeiboSource(config(api), once=True)
        items = list(source.items(None))
        posts, position = [p for p, _ in as_pairs(items) if p is not None], items[-1].position
        reported += [(i.where["stream"], i.error, json.loads(i.raw)) for i in invalid(items)]
    assert [p.id for p in posts] == [str(FIRST), str(FIRST + 14)] and position == {f"uid:{UID}": str(FIRST + 14)}
    ((stream, error, raw),) = reported
    assert stream == f"uid:{UID}" and "昨天 10:15" in error and raw["idstr"] == str(FIRST + 7)


def test_cli_without_a_token_says_which_setting_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("LINGTING_WEIBO_TOKEN", "LINGTING_CONFIG")}
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "connect", "weibo", "--uid", str(UID), "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "set LINGTING_WEIBO_TOKEN" in done.stderr


def _write_config(make_config, tmp_path: Path, api: WeiboServer, streams: list[dict], **weibo) -> tuple[Path, dict]:
    data = make_config(
        connectors={
            "weibo": {
                "base_url": api.url,
                "streams": streams,
                "retry_max_seconds": 0.2,
                "token_retry_seconds": 0.3,
                **weibo,
            }
        }
    )
    path = tmp_path / "lingting.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path, data


def _checkpointed(path: Path, stream: str) -> int:
    """The id checkpointed for ``stream`` (0: none yet)."""
    try:
        return int(json.loads(path.read_text())["position"][stream])
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return 0


def _read_topic(data: dict, name: str) -> list:
    return read_topic(f"{data['kafka']['topic_prefix']}.{name}", data["kafka"]["bootstrap"])


def _topic_keys(data: dict) -> Counter:
    return key_counts(f"{data['kafka']['topic_prefix']}.posts.raw", data["kafka"]["bootstrap"])


def _topic_values(data: dict, name: str) -> list[dict]:
    return [json.loads(m.value) for m in _read_topic(data, name)]


@pytest.mark.integration
def test_kill_9_and_restart_publish_every_status_exactly_once(make_config, tmp_path):
    with WeiboServer() as api:
        statuses = timeline(UID, "海底捞火锅", 2400, first_id=FIRST, repost_every=10)
        searched = timeline(88, "蜜雪冰城甜蜜蜜", 900, first_id=FIRST + 1)
        api.add_timeline(UID, statuses)
        api.add_search("蜜雪冰城", searched)
        expected = {f"weibo:{s['idstr']}" for s in statuses + searched} | {
            f"weibo:{s['retweeted_status']['idstr']}" for s in statuses if "retweeted_status" in s
        }
        config, data = _write_config(make_config, tmp_path, api, [{"uid": UID}, {"keyword": "蜜雪冰城"}])
        cmd = connect_command("weibo", config, tmp_path / "cp.json", "--once")
        env = {**os.environ, "LINGTING_WEIBO_TOKEN": TOKEN}
        first = subprocess.Popen(cmd + ["--rate", "500"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not _checkpointed(tmp_path / "cp.json", f"uid:{UID}") and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # more posts in flight after the first checkpoint of a position
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        position = json.loads((tmp_path / "cp.json").read_text())["position"]
        assert FIRST < int(position[f"uid:{UID}"]) < FIRST + 7 * 2399, "the kill must land mid-stream"
        api.requests.clear()
        done = subprocess.run(cmd, cwd=ROOT, env=env, timeout=120, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        resumed = next(r for r in api.requests if r.get("uid") == str(UID))
        assert resumed["since_id"] == position[f"uid:{UID}"] and resumed["page"] == "1"
    keys = _topic_keys(data)
    assert len(expected) == 2400 + 240 + 900 and set(keys) == expected
    assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1][:5]


@pytest.mark.integration
def test_daemon_survives_a_rejected_token_and_rate_limits_then_stops_on_sigterm(make_config, tmp_path):
    with WeiboServer() as api:
        statuses = timeline(UID, "海底捞火锅", 150, first_id=FIRST, repost_every=5)
        statuses[120]["created_at"] = "刚刚"  # not a time: dead-lettered, the stream goes on
        api.add_timeline(UID, statuses[:100])
        api.fail("expired_token", 2)
        api.fail("rate_limit", 2)
        api.reset_seconds = 0.2
        config, data = _write_config(make_config, tmp_path, api, [{"uid": UID, "interval": 0.3}])
        env = {**os.environ, "LINGTING_WEIBO_TOKEN": TOKEN}
        log_file = tmp_path / "daemon.log"
        with open(log_file, "w") as log:  # a file, not a pipe: a full pipe would block the daemon
            daemon = subprocess.Popen(
                connect_command("weibo", config, tmp_path / "cp.json"), cwd=ROOT, env=env, stderr=log
            )
        position = lambda: _checkpointed(tmp_path / "cp.json", f"uid:{UID}")  # noqa: E731

        deadline = time.monotonic() + 60
        while position() < int(statuses[99]["idstr"]) and time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.1)
        api.add_timeline(UID, statuses[100:])  # new statuses while it runs: picked up at a later poll
        while position() < int(statuses[-1]["idstr"]) and time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(0.1)
        assert daemon.poll() is None, "the daemon must keep running through token and rate-limit errors"
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    stderr = log_file.read_text(encoding="utf-8")
    assert daemon.returncode == 0, stderr[-2000:]
    assert stderr.count("Weibo rejected the access token (error_code 21327: expired_token") == 2
    assert stderr.count("set LINGTING_WEIBO_TOKEN") == 2 and TOKEN not in stderr
    assert stderr.count("rate limited by Weibo (error_code 10023") == 2
    keys = _topic_keys(data)
    assert len(keys) == 150 + 30 - 1 and max(keys.values()) == 1 and f"weibo:{statuses[120]['idstr']}" not in keys
    assert f'"stream": "uid:{UID}", "id": "{statuses[120]["idstr"]}", "error": "created_at' in stderr
    letters = _topic_values(data, "deadletter")
    assert [(d["stage"], json.loads(d["original_text"])["idstr"]) for d in letters] == [
        ("connect.weibo", statuses[120]["idstr"])
    ]
