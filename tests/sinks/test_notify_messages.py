"""Pure parts of alert delivery: config (simple + full form, env secrets), routing and quiet hours, message
rendering in Chinese and English, each service's size limits, signatures, the rate limiter. No network."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from urllib.parse import unquote_plus

import pytest

from pipeline.settings import settings_from_dict
from schemas.alerts import SamplePost, TopTerm
from schemas.errors import ConfigError
from sinks.notify.channels import build_channel
from sinks.notify.config import NotifyConfig
from sinks.notify.links import LinkSigner, verify_link
from sinks.notify.ratelimit import SlidingWindowLimiter
from sinks.notify.render import MessageContext, Renderer, fit_bytes
from sinks.notify.routing import Router, quiet_until
from sinks.notify.sample import example_channel, sample_alert
from sinks.notify.signing import dingtalk_sign, feishu_sign, verify_webhook_signature, webhook_signature
from sinks.notify.workflow import WorkflowError, next_workflow

SHANGHAI_3AM = datetime(2026, 11, 20, 19, 0, tzinfo=UTC)  # 03:00 Beijing time
SHANGHAI_NOON = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)


def cfg(**notify) -> NotifyConfig:
    """The notify section of a config whose routes may name the brands these tests alert on."""
    brands = [{"name": "海底捞"}, {"name": "瑞幸咖啡"}]
    return settings_from_dict({"brands": brands, "notify": notify}).notify


def channel(type_: str, **extra):
    base = example_channel(type_, "example")
    if type_ != "email":
        base["url"] += "?access_token=tok-1234567890"
    return build_channel(NotifyConfig.model_validate({"channels": [{**base, **extra}]}).channels[0], Renderer(), None)


def ctx(alert=None, lang="zh", **kw) -> MessageContext:
    alert = alert or sample_alert(now=SHANGHAI_NOON)
    return MessageContext(alert, language=lang, links=LinkSigner("https://lingting.test", "k").links(alert.id), **kw)


# ---------------------------------------------------------------- config
def test_simple_webhooks_form_still_works_and_routes_everything():
    c = cfg(webhooks=[{"url": "http://a/hook"}, {"url": "http://b/hook", "secret": "s3cret"}])
    assert [ch.name for ch in c.all_channels()] == ["webhook", "webhook-2"]
    decision = Router(c).decide(sample_alert(severity="low"), SHANGHAI_3AM)
    assert sorted(t.channel for t in decision.targets) == ["webhook", "webhook-2"]


def test_secrets_come_from_env_and_never_show(monkeypatch):
    monkeypatch.setenv("LT_DING_SECRET", "SECabcdef123456")
    monkeypatch.setenv("LT_DING_TOKEN", "tok-abcdef123456")
    c = cfg(
        channels=[
            {
                "name": "dd",
                "type": "dingtalk",
                "secret_env": "LT_DING_SECRET",
                "url": "https://oapi.dingtalk.com/robot/send?access_token=${LT_DING_TOKEN}",
            }
        ]
    )
    dd = c.channels[0]
    assert dd.secret.get_secret_value() == "SECabcdef123456"
    assert dd.url.get_secret_value().endswith("tok-abcdef123456")
    assert "SECabcdef123456" not in repr(c) and "tok-abcdef123456" not in repr(c) + str(c.model_dump())


def test_config_errors_name_the_key(monkeypatch):
    monkeypatch.delenv("LT_MISSING", raising=False)
    with pytest.raises(ConfigError, match=r"notify\.channels\[0\]\.dingtalk\.secret: .*LT_MISSING is not set"):
        cfg(channels=[{"name": "dd", "type": "dingtalk", "url": "https://x", "secret": "${LT_MISSING}"}])
    with pytest.raises(ConfigError, match=r"routes\[0\] names channel 'nope'"):
        cfg(channels=[{"name": "dd", "type": "dingtalk", "url": "https://x"}], routes=[{"channels": ["nope"]}])
    with pytest.raises(ConfigError, match=r"quiet_hours\.start"):
        cfg(quiet_hours={"start": "25h", "end": "08:00"})
    with pytest.raises(ConfigError, match=r"retry\.max_delay"):
        cfg(retry={"max_delay": "soon"})


# ---------------------------------------------------------------- routing
def full_config() -> NotifyConfig:
    return cfg(
        channels=[
            {"name": "dd", "type": "dingtalk", "url": "https://x"},
            {"name": "mail", "type": "email", "host": "h", "from": "a@b.c", "to": ["x@y.z"]},
            {"name": "boss", "type": "webhook", "url": "https://boss"},
        ],
        quiet_hours={"start": "23:00", "end": "08:00"},
        routes=[
            {
                "name": "crisis",
                "brands": ["海底捞"],
                "min_severity": "high",
                "channels": ["dd"],
                "escalate": {"after": "15m", "to": ["boss"]},
            },
            {
                "name": "digest",
                "statuses": ["open", "resolved"],
                "channels": ["mail", "dd"],
                "quiet_hours": {"start": "22:00", "end": "07:30", "action": "drop"},
            },
        ],
    )


def test_routes_match_brand_severity_status_and_a_channel_gets_one_message():
    r = Router(full_config())
    crit = r.decide(sample_alert(severity="critical"), SHANGHAI_NOON)
    assert sorted(t.channel for t in crit.targets) == ["dd", "mail"]
    assert [(n, e.after) for n, e in crit.escalations] == [("crisis", 900.0)]
    other_brand_update = r.decide(sample_alert(brand="瑞幸咖啡", status="update", severity="critical"), SHANGHAI_NOON)
    assert other_brand_update.targets == [] and other_brand_update.escalations == []
    assert r.decide(sample_alert(severity="high"), SHANGHAI_NOON).escalations == []  # critical only


def test_quiet_hours_defer_or_drop_but_let_critical_through():
    r = Router(full_config())
    high = {t.channel: t for t in r.decide(sample_alert(severity="high"), SHANGHAI_3AM).targets}
    assert high["dd"].not_before == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # 08:00 Beijing
    assert high["mail"].suppressed  # the digest route drops at night
    crit = r.decide(sample_alert(severity="critical"), SHANGHAI_3AM).targets
    assert all(t.not_before is None and not t.suppressed for t in crit)


def test_quiet_until_handles_windows_across_midnight():
    q = full_config().quiet_hours
    assert quiet_until(q, SHANGHAI_NOON) is None
    late = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)  # 23:30 Beijing
    assert quiet_until(q, late) == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)


# ---------------------------------------------------------------- messages
@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("type_", ["dingtalk", "wecom", "feishu", "slack", "webhook", "email"])
def test_every_format_renders_chinese_content(type_, lang):
    prepared = channel(type_).payload(ctx(lang=lang))
    text = prepared.body.as_string() if type_ == "email" else json.dumps(prepared.body, ensure_ascii=False)
    if type_ == "email":
        text = prepared.body.get_body(("plain",)).get_content() + prepared.body.get_body(("html",)).get_content()
    followers = {"webhook": "43500000", "zh": "4350万", "en": "43.5M"}[  # the webhook carries the raw Alert JSON
        "webhook" if type_ == "webhook" else lang
    ]
    for needle in ("海底捞", "老鼠", "新京报", followers, "看到新聞嚇到了"):
        assert needle in text, (type_, needle)
    if type_ != "webhook":
        assert ("负面声量" if lang == "zh" else "Negative posts") in text
        assert "https://weibo.com/1642634100/N0000001" in text  # sample posts link out
        assert "https://lingting.test/act?action=acknowledge" in text
    if lang == "en" and type_ != "webhook":
        assert "代表性帖子" not in text and "主要发帖人" not in text


def test_english_is_selectable_and_has_no_chinese_labels():
    c = ctx(lang="en")
    md = Renderer().render("markdown.md.j2", c, flavor="dingtalk") + Renderer().render("links.md.j2", c)
    assert "Negative posts" in md and "Acknowledge" in md
    assert "负面声量" not in md and "确认" not in md and "代表性帖子" not in md
    assert "海底捞" in md  # the content itself stays as posted


def test_user_templates_override_the_bundled_ones(tmp_path):
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "title.txt.j2").write_text("【{{ alert.brand }}】自定义标题 {{ severity_label }}", "utf-8")
    body = channel("dingtalk", style="markdown").payload(ctx()).body
    assert "自定义标题" not in body["markdown"]["title"]
    ch = build_channel(
        NotifyConfig.model_validate(
            {"channels": [{"name": "d", "type": "dingtalk", "url": "https://x", "style": "markdown"}]}
        ).channels[0],
        Renderer(tmp_path),
        None,
    )
    assert ch.payload(ctx()).body["markdown"]["title"] == "【海底捞】自定义标题 严重"


def huge_alert():
    posts = [
        SamplePost(
            platform="weibo",
            id=str(i),
            text="退钱！" * 3000 + "[怒]" * 500,
            author_name="网友" * 50,
            url=f"https://weibo.com/{i}",
        )
        for i in range(10)
    ]
    terms = [TopTerm(term="食品安全问题" * 20, count=i) for i in range(50)]
    return sample_alert().model_copy(update={"sample_posts": posts, "top_terms": terms, "summary": "摘要" * 20000})


def test_size_limits_are_respected_by_truncating_never_failing():
    c = ctx(huge_alert(), max_sample_posts=10)
    wecom = channel("wecom").payload(c).body["markdown"]["content"]
    assert len(wecom.encode()) <= 4096 and "（内容过长，已截断）" in wecom
    assert "[✅ 确认](https://lingting.test/act?action=acknowledge" in wecom  # the links survive the cut
    md_ding = channel("dingtalk", style="markdown", max_bytes=3000).payload(c).body["markdown"]["text"]
    assert len(md_ding.encode()) <= 3000 and "[🟢 解除](https://lingting.test/act?action=resolve" in md_ding
    ding = channel("dingtalk").payload(c).body["actionCard"]["text"]
    assert len(ding.encode()) <= 18000
    feishu = channel("feishu").payload(c).body
    assert len(json.dumps(feishu, ensure_ascii=False).encode()) <= 20 * 1024
    slack = channel("slack").payload(c).body
    assert len(slack["blocks"]) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in slack["blocks"] if b["type"] == "section")
    assert len(slack["blocks"][0]["text"]["text"]) <= 150


def test_fit_bytes_never_cuts_a_character_in_half():
    text = "😡退钱[怒]" * 1000
    for limit in range(50, 80):
        out = fit_bytes(text, limit, mark="…")
        assert len(out.encode()) <= limit
        out.encode().decode("utf-8")


def test_markdown_in_posts_cannot_break_the_message():
    a = sample_alert()
    a.sample_posts[0].text = "[点我](http://evil.example) **加粗** `code`"
    md = Renderer().render("markdown.md.j2", ctx(a), flavor="dingtalk")
    assert "](http://evil.example)" not in md


# ---------------------------------------------------------------- signatures (checked against the docs' recipes)
def test_dingtalk_signature_follows_the_documented_recipe():
    secret, ts = "SEC000111", 1700000000000
    expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest())
    assert unquote_plus(dingtalk_sign(secret, ts)) == expected.decode()
    assert "+" not in dingtalk_sign(secret, ts) and "/" not in dingtalk_sign(secret, ts)  # URL-encoded


def test_feishu_signature_uses_the_string_as_key_and_an_empty_message():
    secret, ts = "fs-secret", 1700000000
    key = f"{ts}\n{secret}".encode()
    assert feishu_sign(secret, ts) == base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def test_webhook_signature_rejects_tampering_and_replays():
    body, secret = '{"brand":"海底捞"}'.encode(), "s"
    sig = webhook_signature(secret, 1_700_000_000, body)
    assert verify_webhook_signature(secret, "1700000000", body, sig, now=1_700_000_100)
    assert not verify_webhook_signature(secret, "1700000000", body + b" ", sig, now=1_700_000_100)
    assert not verify_webhook_signature(secret, "1700000000", body, sig, now=1_700_000_000 + 3600)


def test_action_links_expire_and_bind_action_and_alert():
    signer = LinkSigner("https://x", "k", ttl=60)
    from urllib.parse import parse_qs, urlparse

    q = {k: v[0] for k, v in parse_qs(urlparse(signer.link("acknowledge", "海底捞:1", now=1000)).query).items()}
    assert verify_link("k", q["action"], q["alert"], q["exp"], q["sig"], now=1030) is None
    assert verify_link("k", q["action"], q["alert"], q["exp"], q["sig"], now=1061) == "link expired"
    assert verify_link("k", "resolve", q["alert"], q["exp"], q["sig"], now=1030) == "bad signature"
    assert verify_link("k", q["action"], "瑞幸:1", q["exp"], q["sig"], now=1030) == "bad signature"


# ---------------------------------------------------------------- workflow + rate limit
def test_workflow_transitions_and_validation():
    at = SHANGHAI_NOON
    wf = next_workflow(None, "acknowledge", "王经理", at=at)
    wf = next_workflow(wf, "assign", "王经理", at=at, assignee="李娜")
    assert next_workflow(wf, "acknowledge", "小张", at=at)["state"] == "assigned"
    assert next_workflow(wf, "resolve", "李娜", at=at)["state"] == "resolved"
    with pytest.raises(WorkflowError):
        next_workflow(wf, "assign", "王经理", at=at)
    with pytest.raises(WorkflowError):
        next_workflow(wf, "acknowledge", "  ", at=at)


def test_sliding_window_limiter_allows_n_per_window():
    now = [0.0]
    limiter = SlidingWindowLimiter([(20, 60.0)], clock=lambda: now[0])

    async def take(n):
        for _ in range(n):
            assert limiter.wait_time() == 0
            await limiter.acquire()

    asyncio.run(take(20))
    assert limiter.wait_time() == pytest.approx(60.0)
    now[0] = 59.9
    assert limiter.wait_time() == pytest.approx(0.1)
    now[0] = 60.0
    assert limiter.wait_time() == 0
    feishu = SlidingWindowLimiter(channel("feishu").rates, clock=lambda: now[0])
    now[0] = 0.0
    asyncio.run(_fill(feishu, 5))
    assert feishu.wait_time() == pytest.approx(1.0)  # 5 a second even though 100 a minute remain


async def _fill(limiter, n):
    for _ in range(n):
        await limiter.acquire()
