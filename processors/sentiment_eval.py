"""How well sentiment results match gold labels: what ``lingting eval-sentiment`` and bench/nlp.py report.

Accuracy and macro-F1 are of the binary decision P(positive) >= 0.5. The three-way label is reported apart: the
share of texts labelled neutral (the calibrated band) and the accuracy of the positive / negative labels outside
it, which is what spike detection counts.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

from processors.sentiment import SentimentResult


def metrics(pred: Sequence[bool], gold: Sequence[int]) -> dict:
    """Accuracy and macro-F1 of binary predictions (True = positive) against 1/0 labels."""
    n = len(gold)
    tp = sum(1 for p, g in zip(pred, gold) if p and g)
    tn = sum(1 for p, g in zip(pred, gold) if not p and not g)
    fp = sum(1 for p, g in zip(pred, gold) if p and not g)
    fn = n - tp - tn - fp

    def f1(t: int, f_pos: int, f_neg: int) -> float:
        return 2 * t / (2 * t + f_pos + f_neg) if t else 0.0

    return {"n": n, "accuracy": round((tp + tn) / n, 4) if n else 0.0,
            "macro_f1": round((f1(tp, fp, fn) + f1(tn, fn, fp)) / 2, 4)}


def result_metrics(results: Sequence[SentimentResult], gold: Sequence[int]) -> dict:
    """``metrics`` at P(positive) 0.5, plus ``neutral_share`` and ``accuracy_outside_neutral``."""
    out = metrics([r.score >= 0.5 for r in results], gold)
    decided = [(r.label == "positive", g) for r, g in zip(results, gold) if r.label != "neutral"]
    out["neutral_share"] = round(1 - len(decided) / max(1, len(gold)), 4)
    out["accuracy_outside_neutral"] = metrics([p for p, _ in decided], [g for _, g in decided])["accuracy"] \
        if decided else 0.0
    return out


def evaluate_labelled(score: Callable[[str], SentimentResult], rows: Iterable[tuple[int, str, str]]) -> dict:
    """Score (label, text, category) rows with ``score``: ``{"all": result_metrics, "categories": {name: ...}}``
    (categories in first-seen order)."""
    by_category: dict[str, tuple[list[SentimentResult], list[int]]] = {}
    for label, text, category in rows:
        results, gold = by_category.setdefault(category, ([], []))
        results.append(score(text))
        gold.append(label)
    every = [r for results, _ in by_category.values() for r in results]
    labels = [g for _, gold in by_category.values() for g in gold]
    return {"all": result_metrics(every, labels),
            "categories": {name: result_metrics(results, gold) for name, (results, gold) in by_category.items()}}
