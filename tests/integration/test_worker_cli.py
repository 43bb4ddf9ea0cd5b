"""``lingting worker`` the way a new user runs it: a config with only ``brands:``, an empty directory, and a
second worker with the same config beside the first."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from pipeline import cli
from tests.integration.test_end_to_end import es_count, stop, wait_for

pytestmark = pytest.mark.integration
logging.getLogger("kafka.admin").setLevel(logging.ERROR)  # it cannot decode Faust's member metadata


def _worker(cwd: Path, stack: dict[str, str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "LINGTING_KAFKA": stack["kafka"], "LINGTING_ES": stack["es"]}
    env.pop("LINGTING_CONFIG", None)
    return cli.spawn(["worker", "-c", "my.yaml"], log, env, cwd=cwd)


def _members(bootstrap: str, group: str) -> int:
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group])[group]
        return len(described["members"]) if described["group_state"] == "Stable" else 0
    except KafkaError:  # no coordinator yet: nobody has joined
        return 0
    finally:
        admin.close()


def test_two_workers_from_an_empty_directory_with_only_brands(tmp_path: Path, stack, es) -> None:
    (tmp_path / "my.yaml").write_text("brands:\n  - name: 瑞幸\n    aliases: [luckin]\n", encoding="utf-8")
    logs = [tmp_path / "w0.log", tmp_path / "w1.log"]
    first = _worker(tmp_path, stack, logs[0])
    second = None
    try:
        from pipeline.settings import load_settings

        env_before = {k: os.environ.get(k) for k in ("LINGTING_KAFKA", "LINGTING_ES")}
        os.environ.update(LINGTING_KAFKA=stack["kafka"], LINGTING_ES=stack["es"])
        try:
            settings = load_settings(tmp_path / "my.yaml")
        finally:
            for k, v in env_before.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        wait_for(lambda: _members(stack["kafka"], settings.worker.app_id) == 1, 180, "the first worker to join")
        second = _worker(tmp_path, stack, logs[1])
        wait_for(lambda: _members(stack["kafka"], settings.worker.app_id) == 2, 180, "both workers in the group")

        from kafka import KafkaProducer

        run = uuid.uuid4().hex[:8]
        producer = KafkaProducer(bootstrap_servers=stack["kafka"], acks="all")
        for i in range(60):
            post = {
                "platform": "weibo",
                "id": f"{run}-{i}",
                "text": f"今天的瑞幸生椰拿铁☕️ 好喝 #瑞幸# {i}",
                "created_at": "2026-11-30T08:00:00+08:00",
            }
            producer.send(
                settings.kafka.raw_topic,
                key=f"weibo:{run}-{i}".encode(),
                value=json.dumps(post, ensure_ascii=False).encode(),
            )
        producer.flush()
        producer.close()

        def indexed() -> int:
            if not es_count(es, settings.elasticsearch.posts_alias):  # the alias appears with the first write
                return 0
            return es.count(index=settings.elasticsearch.posts_alias, query={"prefix": {"id": run}})["count"]

        wait_for(lambda: indexed() >= 60, 180, "60 posts indexed")
        assert first.poll() is None and second.poll() is None
        slots = sorted(p.name for p in (tmp_path / ".lingting" / "worker").iterdir())
        assert slots == ["worker-0", "worker-1"]
    finally:
        for proc in (second, first):
            if proc is not None:
                stop(proc)
        for log in logs:
            print(log.read_text(errors="replace")[-3000:] if log.exists() else "")
    assert indexed() == 60
