"""Run a connector as a user does and read a test topic back from the real broker: what the connectors under
test really published."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def connect_command(source: str, config: Path, checkpoint: Path, *args: str) -> list[str]:
    """The command line of ``lingting connect SOURCE ARGS`` with this config and checkpoint file."""
    return [
        sys.executable,
        "-m",
        "pipeline.cli",
        "connect",
        source,
        *args,
        "--config",
        str(config),
        "--checkpoint",
        str(checkpoint),
    ]


def read_topic(topic: str, bootstrap: str) -> list:
    """Every record of ``topic`` from the start (stops after 3 s without a new record)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=3000,
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


def key_counts(topic: str, bootstrap: str) -> Counter:
    """How many times each key is in ``topic`` (exactly once = every count is 1)."""
    return Counter(m.key.decode() for m in read_topic(topic, bootstrap))


def kill_9_after_first_checkpoint(cmd: list[str], checkpoint: Path, *, cwd: Path, after: float = 1.5) -> dict:
    """Start a connector, wait for its first checkpoint, let more posts get in flight for ``after`` seconds,
    then SIGKILL it (no flush, no final checkpoint). Returns the checkpoint it left behind."""
    import json
    import os
    import signal
    import subprocess
    import time

    process = subprocess.Popen(cmd, cwd=cwd, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not _has_position(checkpoint) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    time.sleep(after)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return json.loads(checkpoint.read_text())


def _has_position(checkpoint: Path) -> bool:
    import json

    try:
        return bool(json.loads(checkpoint.read_text()).get("position"))
    except (FileNotFoundError, ValueError):
        return False
