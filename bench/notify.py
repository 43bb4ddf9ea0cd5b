"""Alert delivery under a receiver outage: the "done" criterion of issue 5, at full length.

    .venv/bin/python bench/notify.py                    # webhook down 120 s, ~2.5 minutes
    .venv/bin/python bench/notify.py --down 10 --alerts 6   # quick

A Notifier (real Elasticsearch delivery log) sends crises to three real local receivers: a generic webhook
(HMAC-checked), a DingTalk-shaped robot (加签-checked, 20 messages/min) and an SMTP inbox (STARTTLS + login).
The webhook receiver is down for ``--down`` seconds from the start while ``--alerts`` crises are raised evenly
over that period. Reported: seconds from ``deliver()`` to arrival per channel (p50/max), whether any message was
lost or duplicated, how long the webhook needed to catch up after it came back, and how long ``deliver()`` took.
Needs the local stack (Elasticsearch at $LINGTING_ES or 127.0.0.1:9200). Prints a table and writes
bench/results/notify.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.settings import Settings  # noqa: E402
from sinks.notify.dispatcher import Notifier  # noqa: E402
from tests.sinks.receivers import ChatReceivers, SmtpInbox, alert, dingtalk, mail_channel, self_signed_cert, webhook  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "notify.json"


async def run(down: float, n_alerts: int, es_url: str) -> dict:
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    cert, key = self_signed_cert(Path(tempfile.mkdtemp()))
    hook_rx, chat_rx = ChatReceivers(), ChatReceivers()
    await chat_rx.start()
    with SmtpInbox(cert, key) as inbox:
        settings = Settings.model_validate(
            {
                "elasticsearch": {"url": es_url, "index_prefix": prefix},
                "api": {"token": "bench", "public_url": "https://lingting.bench"},
                # production-like retry policy (backoff up to 30 s), as an operator would configure it
                "notify": {
                    "channels": [webhook(hook_rx), dingtalk(chat_rx), mail_channel(inbox, cert)],
                    "retry": {"initial_delay": 1, "max_delay": 30, "timeout": 10},
                },
            }
        )
        notifier = Notifier.from_settings(settings)
        await notifier.start()
        sent_at: dict[str, float] = {}
        deliver_ms: list[float] = []
        started = time.monotonic()
        for i in range(n_alerts):
            target = started + i * (down / max(1, n_alerts))
            await asyncio.sleep(max(0.0, target - time.monotonic()))
            a = alert(1000 + i)
            t0 = time.monotonic()
            await notifier.deliver(a)
            deliver_ms.append((time.monotonic() - t0) * 1000)
            sent_at[a.delivery_key] = t0
        await asyncio.sleep(max(0.0, started + down - time.monotonic()))
        back_at = time.monotonic()
        await hook_rx.start()
        deadline = back_at + 90
        while time.monotonic() < deadline and len(hook_rx["webhook"].received) < n_alerts:
            await asyncio.sleep(0.05)
        caught_up = time.monotonic() - back_at
        await asyncio.sleep(2)  # would any duplicate still arrive?
        await notifier.stop()
        await hook_rx.stop()
        await chat_rx.stop()

        # a channel sends in order: the i-th DingTalk message is the i-th alert
        ding = [t - s for t, s in zip(chat_rx["dingtalk"].arrival, sent_at.values(), strict=False)]
        mail_keys = [str(m["X-Lingting-Delivery"]) for m in inbox.messages]
        hook_keys = [r["delivery"] for r in hook_rx["webhook"].received]
        result = {
            "down_seconds": down,
            "alerts": n_alerts,
            "webhook_received": len(hook_keys),
            "webhook_unique": len(set(hook_keys)),
            "dingtalk_received": len(chat_rx["dingtalk"].received),
            "mail_received": len(mail_keys),
            "mail_unique": len(set(mail_keys)),
            "lost": n_alerts * 3 - len(set(hook_keys)) - len(set(mail_keys)) - len(chat_rx["dingtalk"].received),
            "duplicates": (len(hook_keys) - len(set(hook_keys))) + (len(mail_keys) - len(set(mail_keys))),
            "dingtalk_latency_p50_s": round(statistics.median(ding), 3) if ding else None,
            "dingtalk_latency_max_s": round(max(ding), 3) if ding else None,
            "webhook_caught_up_after_s": round(caught_up, 2),
            "deliver_call_ms_p50": round(statistics.median(deliver_ms), 2),
            "deliver_call_ms_max": round(max(deliver_ms), 2),
            "rejected_by_receivers": hook_rx["webhook"].rejected + chat_rx["dingtalk"].rejected,
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--down", type=float, default=120.0, help="Seconds the webhook receiver is down.")
    parser.add_argument("--alerts", type=int, default=12, help="Crises raised while it is down (DingTalk: ≤20/min).")
    args = parser.parse_args()
    es_url = os.environ.get("LINGTING_ES", "http://127.0.0.1:9200")
    result = asyncio.run(run(args.down, args.alerts, es_url))
    result.update(
        machine=platform.machine(), python=platform.python_version(), at=datetime.now(UTC).isoformat(timespec="seconds")
    )
    width = max(len(k) for k in result)
    for k, v in result.items():
        print(f"{k:<{width}}  {v}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"→ {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
