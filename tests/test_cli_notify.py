"""``lingting notify test`` the way a user runs it: a config file, real local receivers, the printed answers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading

import pytest
import yaml

from tests.sinks.receivers import ChatReceivers, dingtalk, webhook


@pytest.fixture
def receivers():
    """The chat receivers served from a thread, so the CLI under test can be a plain subprocess."""
    loop = asyncio.new_event_loop()
    rx = ChatReceivers()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(rx.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30)
    yield rx
    asyncio.run_coroutine_threadsafe(rx.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)


def run_notify_test(tmp_path, channels, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "lingting.yaml"
    config.write_text(yaml.safe_dump({"notify": {"channels": channels}}, allow_unicode=True), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "LINGTING_CONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "notify", "test", "--config", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_notify_test_prints_each_answer_and_the_body_carries_the_header_key(tmp_path, receivers):
    proc = run_notify_test(tmp_path, [webhook(receivers), dingtalk(receivers)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert 'ok      ops-hook: HTTP 200 {"ok": true}' in lines
    assert 'ok      crisis-dingtalk: HTTP 200 {"errcode": 0, "errmsg": "ok"}' in lines
    [hook] = receivers["webhook"].received
    assert hook["delivery"].endswith(":test")
    assert hook["body"]["lingting"]["delivery_key"] == hook["delivery"]
    assert len(receivers["dingtalk"].received) == 1


def test_notify_test_prints_the_refusal_and_exits_1(tmp_path, receivers):
    proc = run_notify_test(tmp_path, [webhook(receivers), dingtalk(receivers, secret="SECwrong")])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ok      ops-hook: HTTP 200" in proc.stdout
    refused = next(line for line in proc.stdout.splitlines() if line.startswith("FAILED  crisis-dingtalk: "))
    assert "errcode 310000: sign not match" in refused
    assert receivers["dingtalk"].rejected == ["sign"]


def test_notify_test_one_channel_by_name(tmp_path, receivers):
    proc = run_notify_test(tmp_path, [webhook(receivers), dingtalk(receivers)], "--channel", "crisis-dingtalk")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok      crisis-dingtalk: HTTP 200")
    assert not receivers["webhook"].received and len(receivers["dingtalk"].received) == 1
