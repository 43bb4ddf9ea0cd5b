"""`lingting es prune` on the real Elasticsearch: whole monthly indices behind the posts alias that are entirely
older than the cutoff go, and nothing else — not the current month, not a month holding a newer (misfiled) post,
not an index that only looks like lingting's, not an index outside the alias."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from sinks import retention
from sinks.elasticsearch import posts_template, write_alias

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _month(dt: datetime) -> str:
    return f"{dt:%Y.%m}"


@pytest.fixture
def months(es, unique_prefix):
    """Monthly indices as the worker creates them (template, read alias, write alias), with one post each."""
    prefix = unique_prefix
    now = datetime.now(UTC)
    es.indices.put_index_template(name=f"{prefix}-posts", body=posts_template(prefix))
    old = [datetime(2024, 1, 15, tzinfo=UTC), datetime(2024, 2, 15, tzinfo=UTC)]
    recent = now - timedelta(days=40)
    dated = {_month(d): d for d in (*old, recent, now)}
    misfiled = datetime(2024, 3, 10, tzinfo=UTC)
    dated[_month(misfiled)] = misfiled
    for month, when in dated.items():
        es.indices.create(
            index=f"{prefix}-posts-{month}", aliases={write_alias(prefix, month): {"is_write_index": True}}
        )
        es.index(
            index=write_alias(prefix, month),
            id=f"weibo:{month}",
            refresh=True,
            document={
                "platform": "weibo",
                "id": month,
                "text": "海底捞 #海底捞# 服務很好👍 [赞]",
                "created_at": when.isoformat(),
            },
        )
    # a post of today filed in March 2024's index (a bad import): the index must stay
    es.index(
        index=f"{prefix}-posts-2024.03",
        id="weibo:late",
        refresh=True,
        document={"platform": "weibo", "id": "late", "text": "//@顾客:还在", "created_at": now.isoformat()},
    )
    # looks like a monthly index but is not behind the alias: never lingting's to delete
    es.indices.create(index=f"{prefix}-posts-2023.12", aliases={})
    es.indices.delete_alias(index=f"{prefix}-posts-2023.12", name=f"{prefix}-posts")
    # behind the alias but not named like a month: never touched either
    es.indices.create(index=f"{prefix}-posts-archive", aliases={})
    yield prefix, now, recent
    es.indices.delete(index=f"{prefix}-posts-*")
    es.indices.delete_index_template(name=f"{prefix}-posts")


def _names(es, prefix: str) -> set[str]:
    return set(es.indices.get(index=f"{prefix}-posts-*"))


def test_plan_keeps_current_recent_misfiled_and_foreign_indices(es, months) -> None:
    prefix, now, recent = months
    plans = {p.index: p for p in retention.plan(es, prefix, now - timedelta(days=180), now)}
    assert {i for i, p in plans.items() if p.delete} == {f"{prefix}-posts-2024.01", f"{prefix}-posts-2024.02"}
    assert not plans[f"{prefix}-posts-{_month(now)}"].delete
    assert "current month" in plans[f"{prefix}-posts-{_month(now)}"].reason
    assert not plans[f"{prefix}-posts-2024.03"].delete and "holds a post" in plans[f"{prefix}-posts-2024.03"].reason
    assert "not a lingting monthly index" in plans[f"{prefix}-posts-archive"].reason
    assert f"{prefix}-posts-2023.12" not in plans  # outside the alias: not even looked at
    assert plans[f"{prefix}-posts-2024.01"].docs == 1


def test_cli_dry_run_by_default_then_apply_deletes_only_the_old_months(es, months, stack, tmp_path) -> None:
    prefix, now, recent = months
    cfg = tmp_path / "lingting.yaml"
    cfg.write_text(yaml.safe_dump({"elasticsearch": {"url": stack["es"], "index_prefix": prefix}}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("LINGTING_ES", "LINGTING_KAFKA")}
    before = _names(es, prefix)

    def prune(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pipeline.cli", "es", "prune", "-c", str(cfg), *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    dry = prune("--older-than", "180d")
    assert dry.returncode == 0, dry.stderr
    assert "dry run, nothing deleted" in dry.stdout and "--apply" in dry.stdout
    assert dry.stdout.count("would delete") == 2, dry.stdout
    assert _names(es, prefix) == before

    # even a retention of minutes never deletes the month being written
    done = prune("--older-than", "10m", "--apply")
    assert done.returncode == 0, done.stderr
    left = _names(es, prefix)
    assert f"{prefix}-posts-{_month(now)}" in left
    assert f"{prefix}-posts-2024.03" in left  # its newest post is from today
    assert {f"{prefix}-posts-2023.12", f"{prefix}-posts-archive"} <= left
    gone = before - left
    # 40 days ago is always in an earlier month, which ended before the cutoff
    assert gone == {f"{prefix}-posts-2024.01", f"{prefix}-posts-2024.02", f"{prefix}-posts-{_month(recent)}"}, (
        done.stdout
    )
    es.indices.refresh(index=f"{prefix}-posts")
    assert es.count(index=f"{prefix}-posts", query={"ids": {"values": [f"weibo:{_month(now)}"]}})["count"] == 1


def test_cli_takes_retention_days_from_the_config_and_names_a_bad_span(months, stack, tmp_path) -> None:
    prefix, _, _ = months
    cfg = tmp_path / "lingting.yaml"
    cfg.write_text(
        yaml.safe_dump({"elasticsearch": {"url": stack["es"], "index_prefix": prefix, "retention_days": 180}}),
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if k not in ("LINGTING_ES", "LINGTING_KAFKA")}
    base = [sys.executable, "-m", "pipeline.cli", "es", "prune", "-c", str(cfg)]
    ok = subprocess.run(base, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.count("would delete") == 2, ok.stdout + ok.stderr
    bad = subprocess.run(
        [*base, "--older-than", "半年"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 2 and "--older-than '半年'" in bad.stderr, bad.stderr
