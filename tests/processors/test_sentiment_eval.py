"""processors.sentiment_eval: the figures eval-sentiment and bench/nlp.py report."""

from __future__ import annotations

from processors.enrich import Enricher
from processors.sentiment import SentimentResult
from processors.sentiment_eval import NEUTRAL, evaluate_labelled, metrics, result_metrics, three_way_metrics


def test_metrics_accuracy_and_macro_f1_by_hand() -> None:
    assert metrics([True, True, False, False], [1, 0, 0, 1]) == {"n": 4, "accuracy": 0.5, "macro_f1": 0.5}
    # all predicted positive: F1 of the positive class 2*2/(2*2+1) = 0.8, of the negative class 0
    assert metrics([True, True, True], [1, 1, 0]) == {"n": 3, "accuracy": 0.6667, "macro_f1": 0.4}
    assert metrics([], []) == {"n": 0, "accuracy": 0.0, "macro_f1": 0.0}


def test_result_metrics_separates_the_neutral_band() -> None:
    results = [
        SentimentResult(0.9, "positive"),
        SentimentResult(0.55, "neutral"),
        SentimentResult(0.2, "negative"),
        SentimentResult(0.8, "positive"),
    ]
    m = result_metrics(results, [1, 0, 0, 0])
    assert m["accuracy"] == 0.5  # 0.55 counts as positive at the 0.5 threshold: wrong; 0.8 wrong
    assert m["neutral_share"] == 0.25
    assert m["accuracy_outside_neutral"] == 0.6667  # positive ok, negative ok, the last positive wrong


def test_evaluate_labelled_per_category_through_the_worker_chain() -> None:
    rows = [
        (1, "很快，好吃，味道足，量大", "外卖"),
        (0, "送餐太慢了，饭都凉了[怒]", "外卖"),
        (1, "房間很乾淨，服務也好👍", "酒店"),
        (0, "#避雷# 前台态度极差，再也不住了//@小王:真的吗", "酒店"),
        (0, "", "酒店"),
    ]
    enricher = Enricher()

    def score(text: str) -> SentimentResult:
        s = enricher.analyse(text)["sentiment"]
        return SentimentResult(s.score, s.label)

    report = evaluate_labelled(score, rows)
    assert list(report["categories"]) == ["外卖", "酒店"]
    assert report["all"]["n"] == 5 and report["categories"]["酒店"]["n"] == 3
    assert report["categories"]["外卖"]["accuracy"] == 1.0
    # the empty text is "no evidence": 0.5, neutral, counted positive at the threshold: wrong for label 0
    assert report["categories"]["酒店"]["accuracy"] == round(2 / 3, 4)
    assert report["categories"]["酒店"]["neutral_share"] >= round(1 / 3, 4)
    assert report["all"]["accuracy"] == 0.8


def test_three_way_metrics_by_hand() -> None:
    P, N, U = SentimentResult(0.9, "positive"), SentimentResult(0.1, "negative"), SentimentResult(0.6, "neutral")
    results = [P, P, U, N, N, U, U, P, N]
    gold = [1, 1, 1, 0, 0, 0, NEUTRAL, NEUTRAL, NEUTRAL]
    m = three_way_metrics(results, gold)
    assert m["positive_recall"] == 1.0  # the neutral one scored 0.6: positive at 0.5
    assert m["negative_recall"] == round(2 / 3, 4) and m["balanced_accuracy"] == round((1 + 2 / 3) / 2, 4)
    assert m["label_accuracy"] == round(2 / 3, 4)  # 2 of 3 on both sides; neutral counts as a miss
    assert m["neutral_recall"] == round(1 / 3, 4) and m["emotional_as_neutral"] == round(2 / 6, 4)
    # F1: positive 2*2/(3+3), negative 2*2/(3+3), neutral 2*1/(3+3)
    assert m["macro_f1_3"] == round((4 / 6 + 4 / 6 + 2 / 6) / 3, 4)


def test_figures_without_rows_are_none_not_zero() -> None:
    only_neutral = result_metrics([SentimentResult(0.5, "neutral")], [NEUTRAL])
    assert only_neutral["accuracy"] is None and only_neutral["accuracy_outside_neutral"] is None
    assert only_neutral["neutral_recall"] == 1.0 and only_neutral["negative_recall"] is None
    all_neutral = result_metrics([SentimentResult(0.4, "neutral")], [0])
    assert all_neutral["accuracy"] == 1.0 and all_neutral["accuracy_outside_neutral"] is None
    assert three_way_metrics([], [])["macro_f1_3"] is None
