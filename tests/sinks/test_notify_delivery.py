"""Alert delivery end to end: the Notifier against real local receivers (HTTP services checking signatures and
message shapes, an SMTP server with STARTTLS/SSL + auth) and the real Elasticsearch delivery log."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC

import pytest

from sinks.notify.dispatcher import Notifier
from tests.sinks.receivers import (
    MAIL_PASSWORD,
    ChatReceivers,
    SmtpInbox,
    alert,
    dingtalk,
    log_docs,
    mail_channel,
    notify_section,
    self_signed_cert,
    until,
    webhook,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def inbox(cert):
    with SmtpInbox(*cert) as box:
        yield box


def settings_for(make_settings, channels, **notify):
    return make_settings(
        notify=notify_section(channels, **notify),
        api={"token": "api-token-for-tests", "public_url": "https://lingting.test"},
    )


def test_crisis_reaches_webhook_dingtalk_and_inbox_once_per_state_change(make_settings, inbox, cert):
    async def scenario():
        async with ChatReceivers() as rx:
            settings = settings_for(make_settings, [webhook(rx), dingtalk(rx), mail_channel(inbox, cert[0])])
            notifier = Notifier.from_settings(settings)
            await notifier.start()
            crisis = alert(1)
            started = time.monotonic()
            await notifier.deliver(crisis)
            returned = time.monotonic() - started
            took = await until(
                lambda: rx["webhook"].received and rx["dingtalk"].received and inbox.messages,
                10,
                "the crisis on all three channels",
            )
            # a replay of the same state (Kafka redelivery) — in this notifier and in a fresh one
            await notifier.deliver(crisis)
            await notifier.stop()
            again = Notifier.from_settings(settings)
            await again.start()
            await again.deliver(crisis)
            await asyncio.sleep(0.5)
            counts_after_replay = (len(rx["webhook"].received), len(rx["dingtalk"].received), len(inbox.messages))
            # the next state of the crisis is a new message on every channel
            await again.deliver(crisis.model_copy(update={"status": "update", "sequence": 1, "observed": 260}))
            await until(
                lambda: (
                    len(rx["webhook"].received) == 2 and len(rx["dingtalk"].received) == 2 and len(inbox.messages) == 2
                ),
                10,
                "the update on all three channels",
            )
            await asyncio.sleep(0.3)
            sent = await log_docs(again, status="sent")
            await again.stop()
            return rx, returned, took, counts_after_replay, sent

    rx, returned, took, counts_after_replay, sent = asyncio.run(scenario())
    assert returned < 1.0
    assert took < 10
    assert counts_after_replay == (1, 1, 1)
    assert len(rx["webhook"].received) == 2 and len(rx["dingtalk"].received) == 2 and len(inbox.messages) == 2
    assert not rx["webhook"].rejected and not rx["dingtalk"].rejected
    # webhook: the Alert JSON itself, signed, with the idempotency key
    first = rx["webhook"].received[0]
    assert first["body"]["brand"] == "海底捞" and first["body"]["status"] == "open"
    assert first["delivery"] == alert(1).delivery_key
    assert first["body"]["lingting"]["delivery_key"] == first["delivery"]
    assert first["body"]["lingting"]["links"]["acknowledge"].startswith("https://lingting.test/act?")
    # DingTalk: action card in Chinese with the acknowledge buttons
    card = rx["dingtalk"].received[0]["body"]["actionCard"]
    assert "海底捞" in card["title"] and "严重" in card["title"]
    assert "负面声量" in card["text"] and "新京报" in card["text"] and "[原文](https://weibo.com/" in card["text"]
    assert [b["title"] for b in card["btns"]][:3] == ["✅ 确认", "👤 认领", "🟢 解除"]
    # mail: HTML + plain text, authenticated over STARTTLS
    mail = inbox.messages[0]
    assert "海底捞" in mail["Subject"] and mail.get_content_type() == "multipart/alternative"
    assert "负面声量" in mail.get_body(("plain",)).get_content()
    assert "<table" in mail.get_body(("html",)).get_content()
    assert inbox.envelopes[0] == ("alerts@lingting.test", ["pr@brand.test"])
    assert sorted(d["channel"] for d in sent) == sorted(["ops-hook", "crisis-dingtalk", "pr-mail"] * 2)
    assert all(d["attempts"] == 1 for d in sent)


def test_webhook_down_loses_nothing_and_does_not_delay_the_others(make_settings, inbox, cert):
    down_for = 5.0

    async def scenario():
        hook_rx, chat_rx = ChatReceivers(), ChatReceivers()
        await chat_rx.start()  # the webhook receiver is down from the start
        settings = settings_for(make_settings, [webhook(hook_rx), dingtalk(chat_rx), mail_channel(inbox, cert[0])])
        notifier = Notifier.from_settings(settings)
        await notifier.start()
        crises = [alert(i) for i in range(3)]
        started = time.monotonic()
        for c in crises:
            await notifier.deliver(c)
        others = await until(
            lambda: len(chat_rx["dingtalk"].received) == 3 and len(inbox.messages) == 3,
            10,
            "DingTalk and mail while the webhook is down",
        )
        await asyncio.sleep(max(0.0, down_for - (time.monotonic() - started)))
        await hook_rx.start()
        recovered = await until(lambda: len(hook_rx["webhook"].received) == 3, 15, "the webhook after it is back")
        await asyncio.sleep(0.5)
        docs = await log_docs(notifier, channel="ops-hook")
        await notifier.stop()
        await hook_rx.stop()
        await chat_rx.stop()
        return hook_rx, others, recovered, docs

    hook_rx, others, recovered, docs = asyncio.run(scenario())
    assert others < 3.0, f"DingTalk/mail waited {others:.1f}s behind the dead webhook"
    assert recovered < 10
    keys = [r["delivery"] for r in hook_rx["webhook"].received]
    assert sorted(keys) == sorted(alert(i).delivery_key for i in range(3))  # each exactly once
    # the channel keeps order: its head job retried while the receiver was down, the others queued behind it
    assert {d["status"] for d in docs} == {"sent"} and max(d["attempts"] for d in docs) > 1
    assert all("cannot connect" in (a.get("error") or "") for d in docs for a in d["attempt_log"] if not a["ok"])


def test_429_retry_after_and_500s_are_retried_and_every_attempt_is_logged(make_settings):
    async def scenario():
        async with ChatReceivers() as rx:
            rx["webhook"].fail_next(1, 429, "slow down", **{"Retry-After": "1"})
            rx["dingtalk"].fail_next(2, 500)
            settings = settings_for(make_settings, [webhook(rx), dingtalk(rx)])
            notifier = Notifier.from_settings(settings)
            await notifier.start()
            started = time.monotonic()
            await notifier.deliver(alert(7))
            await until(lambda: rx["webhook"].received and rx["dingtalk"].received, 10, "both after retries")
            hook_at = rx["webhook"].arrival[0] - started
            await asyncio.sleep(0.3)
            docs = {d["channel"]: d for d in await log_docs(notifier)}
            await notifier.stop()
            return rx, hook_at, docs

    rx, hook_at, docs = asyncio.run(scenario())
    assert hook_at >= 1.0, "Retry-After: 1 was not respected"
    assert rx["webhook"].attempts == 2 and len(rx["webhook"].received) == 1
    assert rx["dingtalk"].attempts == 3 and len(rx["dingtalk"].received) == 1
    hook, ding = docs["ops-hook"], docs["crisis-dingtalk"]
    assert hook["status"] == "sent" and hook["attempts"] == 2 and hook["alert_id"] == alert(7).id
    assert "429" in hook["attempt_log"][0]["error"] and hook["attempt_log"][0]["status"] == 429
    assert ding["status"] == "sent" and ding["attempts"] == 3
    assert [a["ok"] for a in ding["attempt_log"]] == [False, False, True]


def test_slow_receiver_times_out_is_retried_and_never_blocks_other_channels(make_settings):
    async def scenario():
        async with ChatReceivers() as rx:
            rx["webhook"].delay = 2.0  # beyond the 0.5 s timeout below
            settings = settings_for(
                make_settings, [webhook(rx, retry={"timeout": 0.5, "initial_delay": 0.2}), dingtalk(rx)]
            )
            notifier = Notifier.from_settings(settings)
            await notifier.start()
            started = time.monotonic()
            await notifier.deliver(alert(3))
            ding = await until(lambda: rx["dingtalk"].received, 5, "DingTalk")
            await until(lambda: rx["webhook"].attempts >= 2, 6, "a second webhook attempt")
            rx["webhook"].delay = 0.0
            await until(lambda: rx["webhook"].received, 10, "the webhook once fast again")
            await asyncio.sleep(2.2)  # let the slow first requests finish server-side
            docs = await log_docs(notifier, channel="ops-hook")
            await notifier.stop()
            return rx, ding, docs, time.monotonic() - started

    rx, ding, docs, _ = asyncio.run(scenario())
    assert ding < 1.0
    assert docs[0]["status"] == "sent" and docs[0]["attempts"] >= 2
    assert "no answer within 0.5s" in docs[0]["attempt_log"][0]["error"]
    # a timed-out request may still land (at-least-once): the receiver dedups on the delivery key
    assert {r["delivery"] for r in rx["webhook"].received} == {alert(3).delivery_key}


def test_bad_secret_fails_fast_without_retries_and_never_logs_the_secret(make_settings, monkeypatch, caplog):
    monkeypatch.setenv("LT_TEST_DINGTALK_SECRET", "SECwrong-secret-value")

    async def scenario():
        async with ChatReceivers() as rx:
            ding = dingtalk(rx, secret=None, secret_env="LT_TEST_DINGTALK_SECRET")
            ding.pop("secret")
            settings = settings_for(make_settings, [webhook(rx, secret="wrong-hook-secret"), ding])
            notifier = Notifier.from_settings(settings)
            await notifier.start()
            with caplog.at_level(logging.DEBUG):
                await notifier.deliver(alert(4))
                await asyncio.sleep(1.5)
            docs = {d["channel"]: d for d in await log_docs(notifier)}
            await notifier.stop()
            return rx, docs

    rx, docs = asyncio.run(scenario())
    assert rx["dingtalk"].rejected == ["sign"] and rx["dingtalk"].attempts == 1
    assert rx["webhook"].rejected == ["bad signature"] and rx["webhook"].attempts == 1
    assert docs["crisis-dingtalk"]["status"] == "failed" and docs["crisis-dingtalk"]["attempts"] == 1
    assert "310000" in docs["crisis-dingtalk"]["error"] and "加签" in docs["crisis-dingtalk"]["error"]
    assert docs["ops-hook"]["status"] == "failed" and docs["ops-hook"]["http_status"] == 401
    everything = caplog.text + str(docs)
    for secret in ("SECwrong-secret-value", "wrong-hook-secret", "dt-access-token-0123456789"):
        assert secret not in everything


def test_dingtalk_rate_limit_is_respected(make_settings):
    async def scenario():
        # the receiver answers "send too fast" (errcode 130101) beyond 4 a minute; the channel is told 4 / 2 s
        async with ChatReceivers(dingtalk_per_minute=4) as rx:
            settings = settings_for(make_settings, [dingtalk(rx, rate_limit={"messages": 4, "per": "2s"})])
            notifier = Notifier.from_settings(settings)
            await notifier.start()
            for i in range(6):
                await notifier.deliver(alert(20 + i))
            await until(lambda: len(rx["dingtalk"].received) == 4, 5, "the first four")
            await asyncio.sleep(0.5)
            fifth_early = len(rx["dingtalk"].received)
            await notifier.stop(timeout=0.1)
            return rx, fifth_early

    rx, count_half_second_later = asyncio.run(scenario())
    assert count_half_second_later == 4, "the limiter let a fifth message through within the window"
    assert rx["dingtalk"].rejected == []


def test_undelivered_jobs_stay_pending_and_the_next_notifier_sends_them(make_settings):
    async def scenario():
        rx = ChatReceivers()  # down
        settings = settings_for(make_settings, [webhook(rx)])
        first = Notifier.from_settings(settings)
        await first.start()
        await first.deliver(alert(11))
        await asyncio.sleep(0.5)
        await first.stop(timeout=0.2)
        await rx.start()
        second = Notifier.from_settings(settings)
        await second.start()  # resumes from the delivery log
        await until(lambda: rx["webhook"].received, 10, "the resumed delivery")
        await asyncio.sleep(0.3)
        docs = await log_docs(second, channel="ops-hook")
        await second.stop()
        await rx.stop()
        return rx, docs

    rx, docs = asyncio.run(scenario())
    assert [r["delivery"] for r in rx["webhook"].received] == [alert(11).delivery_key]
    assert docs[0]["status"] == "sent" and docs[0]["attempts"] >= 2


def test_smtp_over_ssl_and_a_wrong_password(make_settings, cert):
    async def scenario():
        with SmtpInbox(*cert, mode="ssl") as box:
            settings = settings_for(
                make_settings,
                [mail_channel(box, cert[0]), mail_channel(box, cert[0], name="bad-mail", password="nope")],
            )
            notifier = Notifier.from_settings(settings)
            await notifier.start()
            await notifier.deliver(alert(5, severity="high"))
            await until(lambda: box.messages and box.auth_failures, 10, "the mail and the refused login")
            await asyncio.sleep(0.5)
            docs = {d["channel"]: d for d in await log_docs(notifier)}
            await notifier.stop()
            return box, docs

    box, docs = asyncio.run(scenario())
    assert len(box.messages) == 1 and "海底捞" in box.messages[0]["Subject"]
    assert docs["pr-mail"]["status"] == "sent"
    assert docs["bad-mail"]["status"] == "failed" and docs["bad-mail"]["attempts"] == 1
    assert "login refused" in docs["bad-mail"]["error"] and MAIL_PASSWORD not in str(docs)


def test_quiet_hours_defer_and_drop_while_critical_goes_out(make_settings):
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    local = datetime.now(ZoneInfo("Asia/Shanghai"))
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)  # a quiet period around now
    quiet = {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "timezone": "Asia/Shanghai"}

    async def scenario():
        async with ChatReceivers() as rx:
            channels = [dingtalk(rx), webhook(rx)]
            routes = [
                {"name": "chat", "channels": ["crisis-dingtalk"], "quiet_hours": quiet},
                {"name": "ops", "channels": ["ops-hook"], "quiet_hours": {**quiet, "action": "drop"}},
            ]
            settings = settings_for(make_settings, channels, routes=routes)
            notifier = Notifier.from_settings(settings)
            await notifier.start()
            await notifier.deliver(alert(40, severity="high"))
            await notifier.deliver(alert(41, severity="critical"))
            await until(lambda: rx["dingtalk"].received and rx["webhook"].received, 5, "the critical alert")
            await asyncio.sleep(0.5)
            docs = {(d["alert_id"], d["channel"]): d for d in await log_docs(notifier)}
            await notifier.stop(timeout=0.2)
            return rx, docs

    rx, docs = asyncio.run(scenario())
    assert [r["body"]["actionCard"]["title"] for r in rx["dingtalk"].received] == [
        "🔴 【新危机】海底捞 负面舆情 · 严重"
    ]
    assert [r["body"]["severity"] for r in rx["webhook"].received] == ["critical"]
    deferred = docs[(alert(40).id, "crisis-dingtalk")]
    assert deferred["status"] == "pending"
    assert datetime.fromisoformat(deferred["not_before"]).astimezone(end.tzinfo).strftime("%H:%M") == f"{end:%H:%M}"
    assert docs[(alert(40).id, "ops-hook")]["status"] == "suppressed"


def test_a_deferred_delivery_left_pending_is_sent_when_due_after_a_restart(make_settings):
    from datetime import datetime, timedelta

    from sinks.notify.dispatcher import Job

    async def scenario():
        async with ChatReceivers() as rx:
            settings = settings_for(make_settings, [webhook(rx)])
            first = Notifier.from_settings(settings)
            await first.start()
            due = datetime.now(UTC) + timedelta(seconds=1.5)
            job = Job(
                f"{alert(50).delivery_key}|ops-hook", "ops-hook", "webhook", alert(50), route="default", not_before=due
            )
            await first.log.write(job.doc_id, job.document())  # as a quiet-hours deferral leaves it
            await first.stop()
            started = time.monotonic()
            second = Notifier.from_settings(settings)
            await second.start()
            await until(lambda: rx["webhook"].received, 10, "the deferred delivery")
            await asyncio.sleep(0.2)
            docs = await log_docs(second)
            await second.stop()
            return rx, rx["webhook"].arrival[0] - started, docs

    rx, after, docs = asyncio.run(scenario())
    assert after >= 1.0, "sent before its not_before"
    assert [r["delivery"] for r in rx["webhook"].received] == [alert(50).delivery_key]
    assert docs[0]["status"] == "sent"


def test_a_broken_user_template_falls_back_to_the_bundled_one(make_settings, tmp_path):
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "title.txt.j2").write_text("{{ alert.brand }} {{ no_such_variable }}", "utf-8")
    (tmp_path / "zh" / "links.md.j2").write_text("自定义链接：{{ links.acknowledge }}", "utf-8")

    async def scenario():
        async with ChatReceivers() as rx:
            settings = settings_for(make_settings, [dingtalk(rx, style="markdown")], templates_dir=str(tmp_path))
            notifier = Notifier.from_settings(settings)
            await notifier.start()
            await notifier.deliver(alert(60))
            await until(lambda: rx["dingtalk"].received, 5, "the message")
            await notifier.stop()
            return rx

    md = asyncio.run(scenario())["dingtalk"].received[0]["body"]["markdown"]
    assert md["title"] == "🔴 【新危机】海底捞 负面舆情 · 严重"  # bundled title: the override is broken
    assert "自定义链接：https://lingting.test/act?" not in md["text"]  # whole message re-rendered consistently
