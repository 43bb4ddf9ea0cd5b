"""Build the review-sentence pools the synthetic connector ships (connectors/resources/reviews.tsv).

Source: ../shared/data/sentiment (SophonPlus/ChineseNlpCorpus, research use): waimai_10k and
ChnSentiCorp_htl_all. Short reviews (8–60 characters) only, a fixed random sample per label and set; each line
is ``label<TAB>domain<TAB>sentence`` (domain food or hotel, so a restaurant's posts are not about hotel rooms).
Run: python bench/make_synthetic_corpus.py [--shared ../shared/data/sentiment] [--per-pool 800] [--seed 11]
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "connectors" / "resources" / "reviews.tsv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data" / "sentiment")
    ap.add_argument("--per-pool", type=int, default=800)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    rows: list[tuple[str, str, str]] = []
    for name, domain in (("waimai_10k.csv", "food"), ("ChnSentiCorp_htl_all.csv", "hotel")):
        with open(args.shared / name, encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            pools: dict[str, list[str]] = {"0": [], "1": []}
            for row in reader:
                text = " ".join((row["review"] or "").split())
                if 8 <= len(text) <= 60 and "\t" not in text:
                    pools[row["label"]].append(text)
        for label, texts in pools.items():
            for text in rnd.sample(texts, min(args.per_pool, len(texts))):
                rows.append(("pos" if label == "1" else "neg", domain, text))
    OUT.write_text("".join(f"{label}\t{domain}\t{text}\n" for label, domain, text in rows), encoding="utf-8")
    print(f"wrote {len(rows)} sentences to {OUT}")


if __name__ == "__main__":
    main()
