"""How well sentiment results match gold labels: what ``lingting eval-sentiment`` and bench/nlp.py report.

Accuracy and macro-F1 are of the binary decision P(positive) >= 0.5 on the positive and negative rows. The
three-way label is reported apart: the share of those rows labelled neutral and the accuracy of the labels outside
it (what spike detection counts), and on sets with neutral rows the figures of ``three_way_metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from processors.sentiment import SentimentResult

#: Gold label of a post humans labelled neutral (1 positive, 0 negative).
NEUTRAL = 2


def metrics(pred: Sequence[bool], gold: Sequence[int]) -> dict:
    """Accuracy and macro-F1 of binary predictions (True = positive) against 1/0 labels."""
    n = len(gold)
    tp = sum(1 for p, g in zip(pred, gold, strict=False) if p and g)
    tn = sum(1 for p, g in zip(pred, gold, strict=False) if not p and not g)
    fp = sum(1 for p, g in zip(pred, gold, strict=False) if p and not g)
    fn = n - tp - tn - fp

    def f1(t: int, f_pos: int, f_neg: int) -> float:
        return 2 * t / (2 * t + f_pos + f_neg) if t else 0.0

    return {
        "n": n,
        "accuracy": round((tp + tn) / n, 4) if n else 0.0,
        "macro_f1": round((f1(tp, fp, fn) + f1(tn, fn, fp)) / 2, 4),
    }


def result_metrics(results: Sequence[SentimentResult], gold: Sequence[int]) -> dict:
    """``metrics`` at P(positive) 0.5 on the positive and negative rows, plus ``neutral_share`` and
    ``accuracy_outside_neutral`` of those rows, plus the ``three_way_metrics`` of all rows (gold ``NEUTRAL``
    included). A figure without rows to count is None (n/a), never 0."""
    emotional = [(r, g) for r, g in zip(results, gold, strict=False) if g != NEUTRAL]
    out = metrics([r.score >= 0.5 for r, _ in emotional], [g for _, g in emotional])
    if not emotional:
        out["accuracy"] = out["macro_f1"] = None
    decided = [(r.label == "positive", g) for r, g in emotional if r.label != "neutral"]
    out["neutral_share"] = round(1 - len(decided) / len(emotional), 4) if emotional else None
    out["accuracy_outside_neutral"] = (
        metrics([p for p, _ in decided], [g for _, g in decided])["accuracy"] if decided else None
    )
    three = three_way_metrics(results, gold)
    out.update({k: v for k, v in three.items() if k != "n"}, n=len(gold), n_emotional=len(emotional))
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
    return {
        "all": result_metrics(every, labels),
        "categories": {name: result_metrics(results, gold) for name, (results, gold) in by_category.items()},
    }


#: How the six emotions of the Weibo file (SMP2020-EWECT format: ``emotion,label,review``) become the
#: three labels: happy is positive; angry, sad and fear are negative; neutral is neutral. ``surprise`` (197 of
#: 8,606 rows) is either way (惊喜 or 震惊) and is left out of training and of every figure.
EMOTION_LABELS = {"happy": 1, "angry": 0, "sad": 0, "fear": 0, "neutral": NEUTRAL}


def three_way_metrics(results: Sequence[SentimentResult], gold: Sequence[int]) -> dict:
    """The figures of a Weibo-like set with gold 1 / 0 / ``NEUTRAL``:

    - ``balanced_accuracy``: mean of the positive and negative recall of P(positive) >= 0.5 (emotional posts);
    - ``negative_recall``, ``positive_recall``: the same, per class;
    - ``label_accuracy``: the three-way label equals the gold label on emotional posts (``neutral`` counts as
      a miss), class-balanced (mean over positive and negative posts), so that it reads the same on a set that
      is half positive and half negative; ``label_accuracy_raw`` is the plain share;
    - ``neutral_recall``: share of gold-neutral posts labelled ``neutral``; ``emotional_as_neutral``: share of
      emotional posts labelled ``neutral``;
    - ``macro_f1_3``: three-class macro-F1 of the label over all posts.
    A figure whose class has no rows is ``None`` (printed n/a)."""
    names = {1: "positive", 0: "negative", NEUTRAL: "neutral"}
    by_class: dict[int, list[SentimentResult]] = {1: [], 0: [], NEUTRAL: []}
    for r, g in zip(results, gold, strict=False):
        by_class[g].append(r)

    def share(rows: list[SentimentResult], test: Callable[[SentimentResult], bool]) -> float | None:
        return sum(map(test, rows)) / len(rows) if rows else None

    pos, neg, neu = by_class[1], by_class[0], by_class[NEUTRAL]
    out: dict = {
        "n": len(gold),
        "n_positive": len(pos),
        "n_negative": len(neg),
        "n_neutral": len(neu),
        "positive_recall": share(pos, lambda r: r.score >= 0.5),
        "negative_recall": share(neg, lambda r: r.score < 0.5),
    }
    out["balanced_accuracy"] = _mean(out["positive_recall"], out["negative_recall"])
    pos_label, neg_label = share(pos, lambda r: r.label == "positive"), share(neg, lambda r: r.label == "negative")
    out["label_accuracy"] = _mean(pos_label, neg_label)
    emotional = pos + neg
    out["label_accuracy_raw"] = (
        (sum(r.label == "positive" for r in pos) + sum(r.label == "negative" for r in neg)) / len(emotional)
        if emotional
        else None
    )
    out["neutral_recall"] = share(neu, lambda r: r.label == "neutral")
    out["emotional_as_neutral"] = share(emotional, lambda r: r.label == "neutral")
    f1s = []
    for g, name in names.items():
        tp = sum(r.label == name for r in by_class[g])
        predicted = sum(r.label == name for rows in by_class.values() for r in rows)
        if by_class[g]:
            f1s.append(2 * tp / (predicted + len(by_class[g])))
    out["macro_f1_3"] = sum(f1s) / len(f1s) if f1s else None
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def _mean(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else (a + b) / 2
