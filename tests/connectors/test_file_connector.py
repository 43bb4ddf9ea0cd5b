"""The file connector: JSONL/CSV parsing with per-line errors, and exactly-once publishing across kill -9."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from connectors.file import FileSource
from connectors.testing import as_pairs, invalid
from tests.connectors.kafka_topic import connect_command, key_counts, kill_9_after_first_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def lines(n: int, start: int = 0) -> str:
    return "".join(
        json.dumps(
            {
                "platform": "weibo",
                "id": str(i),
                "text": f"第{i}条：蔚来的服务不错[赞] #蔚来#",
                "created_at": "2026-11-20T12:00:00+08:00",
            },
            ensure_ascii=False,
        )
        + "\n"
        for i in range(start, start + n)
    )


def test_jsonl_resumes_after_position_and_reports_bad_lines(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_text(lines(3) + "{broken json\n" + '{"platform":"weibo"}\n' + lines(2, start=3), encoding="utf-8")
    read = list(FileSource(path).items(None))
    items, errors = list(as_pairs(read)), [(i.where["line"], i.error, i.raw) for i in invalid(read)]
    assert [p.id for p, _ in items if p] == ["0", "1", "2", "3", "4"]
    assert [n for n, _, _ in errors] == [4, 5]
    assert "text: Field required" in errors[1][1] and errors[0][2] == b"{broken json\n"
    resumed = list(as_pairs(FileSource(path).items(5)))
    assert [p.id for p, _ in resumed if p] == ["3", "4"]


def test_csv_with_flat_author_and_metrics_columns(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text(
        "platform,id,text,created_at,author_name,followers,reposts\n"
        'douyin,77,"小米汽车真香，已下定😍",2026-11-20T12:00:00+08:00,车评人老王,120000,35\n',
        encoding="utf-8",
    )
    ((post, position),) = list(as_pairs(FileSource(path).items(None)))
    assert post.key == "douyin:77" and post.author.followers == 120000 and post.metrics.reposts == 35
    assert position == 1


@pytest.mark.integration
def test_kill_9_and_restart_publishes_every_post_exactly_once(make_config, tmp_path):
    config = tmp_path / "lingting.yaml"
    data = make_config()
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    posts = tmp_path / "posts.jsonl"
    total = 3000
    posts.write_text(lines(total), encoding="utf-8")
    cmd = connect_command("file", config, tmp_path / "cp.json", str(posts))
    checkpoint = kill_9_after_first_checkpoint(cmd + ["--rate", "400"], tmp_path / "cp.json", cwd=ROOT)
    assert 0 < checkpoint["position"] < total, "the kill must land mid-replay for this test to mean anything"
    subprocess.run(cmd, cwd=ROOT, check=True, timeout=120, stderr=subprocess.DEVNULL)

    topic = f"{data['kafka']['topic_prefix']}.posts.raw"
    keys = key_counts(topic, data["kafka"]["bootstrap"])
    assert len(keys) == total
    assert max(keys.values()) == 1, [k for k, c in keys.items() if c > 1][:5]
