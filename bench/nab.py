"""lingting's detector on the Numenta Anomaly Benchmark, scored by NAB's own code, beside NAB's published detectors.

    # once: a copy of NAB without realTweets (our held-out acceptance set: never extracted, run or read)
    .venv/bin/python bench/nab.py --nab ~/nab --from-git "$(git-dir of a clone of numenta/NAB)"
    nice -n 10 .venv/bin/python bench/nab.py --nab ~/nab            # every category but realTweets
    nice -n 10 .venv/bin/python bench/nab.py --nab ~/nab --quick    # a few anchors, no scenario weeks

What it does, in one run:
1. ``lingting backtest FILE -o OUT`` (the CLI, in process) over every NAB data file except the ``realTweets``
   category; the windows/s of the CLI and of the detector alone are measured on the way.
2. NAB's ``Corpus``, ``CorpusLabel``, ``optimizeThreshold`` (sweeper) and ``scoreCorpus`` are imported from the
   NAB copy (not shipped with lingting) and score, on the same files and labels:
   - ``lingting``: the ``anomaly_score`` column, threshold optimised per profile as NAB does;
   - ``lingtingAlert``: the ``alert`` column as shipped (0/1, threshold fixed at 0.5);
   - NAB's published detectors from its ``results/`` folder, thresholds optimised the same way.
   Scores are normalised as ``nab.runner.Runner.normalize`` does (null detector = 0, perfect = 100), overall
   and per category.
3. Windows hit (a labelled window with a detection after the probationary period) and false alarms per
   series-week (detections outside every window, per week of scored series time) at each threshold.
4. The synthetic scenarios of ``bench/detection.py`` (``BrandMonitor`` and backtest paths) as a regression row.
Prints tables, writes bench/results/nab.json. Needs the ``bench`` extra (pandas, simplejson) for NAB's code.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from datetime import datetime
from multiprocessing.pool import ThreadPool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
HELD_OUT = "realTweets"  # reserved for acceptance: never extracted, run, read or tuned on
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
QUICK_ANCHORS = ("null", "random", "windowedGaussian", "numenta", "ARTime")
OURS = ("lingting", "lingtingAlert")
WEEK = 7 * 86400.0


# ---------------------------------------------------------------------------------------------- the NAB copy
def extract(git_dir: Path, dest: Path) -> None:
    """Copy data, results, the scoring package and config out of a NAB git dir, leaving out ``realTweets``
    (and the published per-file score tables and final results, which include it) before anything is written.
    The labels file is filtered by key in memory, so realTweets windows never reach the disk."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "--git-dir", str(git_dir), "archive", "HEAD", "data", "results", "nab", "config", "LICENSE.txt"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        keep = [
            m
            for m in tar.getmembers()
            if HELD_OUT.lower() not in m.name.lower()
            and not m.name.endswith("_scores.csv")
            and m.name != "results/final_results.json"
            and not m.name.startswith("nab/detectors")
        ]
        tar.extractall(dest, members=keep, filter="data")
    labels = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", "HEAD:labels/combined_windows.json"], check=True, capture_output=True
    ).stdout
    windows = {k: v for k, v in json.loads(labels).items() if HELD_OUT not in k}
    (dest / "labels").mkdir(exist_ok=True)
    (dest / "labels" / "combined_windows.json").write_text(json.dumps(windows, indent=2), encoding="utf-8")


def data_files(nab: Path) -> list[str]:
    """Relative paths (``category/file.csv``) of every labelled data file, realTweets never included."""
    labels = json.loads((nab / "labels" / "combined_windows.json").read_text(encoding="utf-8"))
    return sorted(p for p in labels if HELD_OUT not in p and (nab / "data" / p).exists())


# ---------------------------------------------------------------------------------------------- lingting
def run_lingting(nab: Path, files: list[str], work: Path) -> dict:
    """``lingting backtest`` over each file; results written in NAB's layout for both of our detectors."""
    from pipeline.cli import _register_all, app
    from pipeline.cli.backtest import read_series
    from processors.detection.backtest import run

    if not any(c.name == "backtest" for c in app.registered_commands):
        _register_all()
    cli_seconds = detector_seconds = 0.0
    windows = 0
    for rel in files:
        src = nab / "data" / rel
        out = work / "scored" / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            app(["backtest", str(src), "-o", str(out), "--keep-repeats"], standalone_mode=False)
        cli_seconds += time.perf_counter() - t
        points, _ = read_series(src, keep_repeats=True)
        t = time.perf_counter()
        run(points)
        detector_seconds += time.perf_counter() - t
        windows += len(points)
        rows = out.read_text(encoding="utf-8").splitlines()[1:]
        category, name = rel.split("/")
        for detector, column in (("lingting", 2), ("lingtingAlert", 3)):
            dest = work / "results" / detector / category / f"{detector}_{name}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(dest, "w", encoding="utf-8") as fh:
                fh.write("timestamp,value,anomaly_score\n")
                for row in rows:
                    stamp, value, score, alert = row.split(",")
                    fh.write(f"{stamp},{value},{(score, alert)[column - 2]}\n")
    return {
        "windows": windows,
        "cli_windows_per_second": round(windows / cli_seconds),
        "detector_windows_per_second": round(windows / detector_seconds),
    }


# ---------------------------------------------------------------------------------------------- NAB scoring
class Scorer:
    """NAB's scorer, sweeper and optimiser over a set of data files (imported from the NAB copy)."""

    def __init__(self, nab: Path, files: list[str]) -> None:
        sys.path.insert(0, str(nab))
        from nab.corpus import Corpus
        from nab.labeler import CorpusLabel
        from nab.optimizer import optimizeThreshold
        from nab.scorer import scoreCorpus
        from nab.sweeper import Sweeper

        self.Corpus, self.optimize, self.score_corpus, self.Sweeper = Corpus, optimizeThreshold, scoreCorpus, Sweeper
        self.nab, self.files = nab, set(files)
        self.profiles = json.loads((nab / "config" / "profiles.json").read_text(encoding="utf-8"))
        corpus = Corpus(str(nab / "data"))
        corpus.dataFiles = {k: v for k, v in corpus.dataFiles.items() if k in self.files}
        self.labels = CorpusLabel(path=str(nab / "labels" / "combined_windows.json"), corpus=corpus)
        self.probation = 0.15  # nab.runner.Runner's probationaryPercent
        self.pool = ThreadPool(1)  # the box is shared: NAB's per-file scoring needs only a map_async

    def results_corpus(self, detector_dir: Path):
        corpus = self.Corpus(str(detector_dir))
        name = detector_dir.name
        corpus.dataFiles = {
            k: v for k, v in corpus.dataFiles.items() if HELD_OUT not in k and self._data_path(name, k) in self.files
        }
        return corpus

    @staticmethod
    def _data_path(detector: str, rel: str) -> str:
        category, fname = rel.split("/")[-2:]
        return f"{category}/{fname[len(detector) + 1 :]}" if fname.startswith(detector + "_") else rel

    def score(self, detector_dir: Path, fixed_threshold: float | None = None) -> dict:
        """Per profile: the (optimised or fixed) threshold and NAB's per-file raw scores and counts."""
        name = detector_dir.name
        corpus = self.results_corpus(detector_dir)
        missing = self.files - {self._data_path(name, k) for k in corpus.dataFiles}
        out: dict = {"missing_files": sorted(missing)}
        for profile in PROFILES:
            cost = self.profiles[profile]["CostMatrix"]
            if fixed_threshold is None:
                best = self.optimize((name, cost, corpus, self.labels, self.probation))
                threshold = best["threshold"]
            else:
                threshold = fixed_threshold
            df = self.score_corpus(
                threshold,
                (self.pool, name, profile, cost, str(detector_dir), corpus, self.labels, self.probation, False),
            )
            rows = {r["File"]: r for r in df.to_dict("records") if r["File"] != "Totals"}
            out[profile] = {"threshold": float(threshold), "files": rows}
        out["hits"] = self.hits(corpus, name, out["standard"]["threshold"])
        return out

    def hits(self, corpus, name: str, threshold: float) -> dict:
        """Windows hit and false alarms (detections outside windows) after the probationary period, per file,
        from NAB's own window assignment (``Sweeper.calcSweepScore``)."""
        sweeper = self.Sweeper(probationPercent=self.probation, costMatrix=self.profiles["standard"]["CostMatrix"])
        out = {}
        for rel, data in corpus.dataFiles.items():
            path = self._data_path(name, rel)
            labels = self.labels.labels[path]
            points = sweeper.calcSweepScore(
                labels["timestamp"], data.data["anomaly_score"], self.labels.windows[path], path
            )
            scored = [p for p in points if p.windowName != "probationary"]
            windows = {p.windowName for p in scored if p.windowName is not None}
            hit = {p.windowName for p in scored if p.windowName is not None and p.anomalyScore >= threshold}
            false = sum(1 for p in scored if p.windowName is None and p.anomalyScore >= threshold)
            weeks = (scored[-1].timestamp - scored[0].timestamp).total_seconds() / WEEK if len(scored) > 1 else 0
            out[path] = {"windows": len(windows), "hit": len(hit), "false_alarms": false, "weeks": weeks}
        return out


def normalise(result: dict, null: dict, windows: dict[str, int], profiles: dict, files: list[str]) -> dict:
    """NAB's normalisation (``Runner.normalize``): 100 · (raw − null) / (perfect − null), perfect = windows ×
    tpWeight, over the given files."""
    out = {}
    for profile in PROFILES:
        raw = sum(result[profile]["files"][f]["Score"] for f in files if f in result[profile]["files"])
        base = sum(null[profile]["files"][f]["Score"] for f in files)
        perfect = sum(windows[f] for f in files) * profiles[profile]["CostMatrix"]["tpWeight"]
        out[profile] = round(100 * (raw - base) / (perfect - base), 2) if perfect != base else None
    hits = [result["hits"][f] for f in files if f in result["hits"]]
    weeks = sum(h["weeks"] for h in hits)
    out["windows_hit"] = sum(h["hit"] for h in hits)
    out["windows"] = sum(h["windows"] for h in hits)
    out["false_alarms"] = sum(h["false_alarms"] for h in hits)
    out["false_alarms_per_series_week"] = round(out["false_alarms"] / weeks, 3) if weeks else None
    out["complete"] = all(f in result["standard"]["files"] for f in files)
    return out


def summarise(results: dict[str, dict], files: list[str], scorer: Scorer) -> dict:
    windows = {f: len(scorer.labels.windows[f]) for f in files}
    categories = sorted({f.split("/")[0] for f in files})
    null = results["null"]
    table = {}
    for name, result in results.items():
        row = {
            "threshold": result["standard"]["threshold"],
            "overall": normalise(result, null, windows, scorer.profiles, files),
        }
        for cat in categories:
            row[cat] = normalise(result, null, windows, scorer.profiles, [f for f in files if f.startswith(cat)])
        table[name] = row
    return table


# ---------------------------------------------------------------------------------------------- output
def print_tables(table: dict, files: list[str]) -> None:
    names = sorted(table, key=lambda n: (n not in OURS, -(table[n]["overall"]["standard"] or -1e9)))
    head = f"{'detector':<20}{'threshold':>10}{'standard':>10}{'low FP':>9}{'low FN':>9}{'hit':>9}{'FA/wk':>8}"
    print(f"NAB, {len(files)} files, every category but {HELD_OUT} (NAB's scorer, thresholds optimised on them)")
    print(head + "\n" + "-" * len(head))
    for n in names:
        o = table[n]["overall"]
        flag = "" if o["complete"] else "  (files missing)"
        print(
            f"{n:<20}{table[n]['threshold']:>10.4g}{o['standard']:>10.1f}{o['reward_low_FP_rate']:>9.1f}"
            f"{o['reward_low_FN_rate']:>9.1f}{o['windows_hit']:>5}/{o['windows']:<3}"
            f"{o['false_alarms_per_series_week']:>8.2f}{flag}"
        )
    categories = sorted({f.split("/")[0] for f in files})
    print("\nstandard profile per category (low FP / low FN in the JSON)")
    head = f"{'detector':<20}" + "".join(f"{c[:14]:>15}" for c in categories)
    print(head + "\n" + "-" * len(head))
    for n in names:
        cells = [table[n][c]["standard"] for c in categories]  # None: a category without labelled windows
        print(f"{n:<20}" + "".join(f"{'n/a' if v is None else format(v, '.1f'):>15}" for v in cells))


def scenarios(quick: bool) -> dict:
    """The synthetic regression of bench/detection.py (same metrics), pooled."""
    from bench.detection import part_a, part_b

    weeks = 2 / 7 if quick else 1.0
    with contextlib.redirect_stderr(io.StringIO()):
        a = part_a(weeks)
        b = part_b({60: weeks, 300: 2 * weeks if quick else 2, 3600: 4 if quick else 8, 86400: 26 if quick else 52})
    return {
        "monitor": a["lingting"],
        "backtest": b["lingting"],
        "monitor_elastalert": a["elastalert"],
        "backtest_elastalert": b["elastalert"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--nab",
        type=Path,
        default=Path(os.environ.get("NAB_DIR", RESULTS / "nab-copy")),
        help="a NAB copy without realTweets (default $NAB_DIR or bench/results/nab-copy)",
    )
    parser.add_argument("--from-git", type=Path, help="extract the copy from this NAB git dir first")
    parser.add_argument(
        "--quick", action="store_true", help=f"anchors {', '.join(QUICK_ANCHORS)} only; 2 days per scenario"
    )
    parser.add_argument(
        "--anchors",
        help="comma-separated published detectors to score (default: all; the null "
        "detector is always scored, it is the normalisation's zero)",
    )
    parser.add_argument("--no-scenarios", action="store_true", help="skip the synthetic regression")
    args = parser.parse_args()
    t0 = time.perf_counter()
    if args.from_git:
        extract(args.from_git, args.nab)
    files = data_files(args.nab)
    if not files:
        raise SystemExit(f"no NAB data under {args.nab} (extract it with --from-git)")
    work = RESULTS / "nab-run"
    speed = run_lingting(args.nab, files, work)
    print(
        f"lingting backtest: {speed['windows']} windows, CLI {speed['cli_windows_per_second']:,} windows/s, "
        f"detector {speed['detector_windows_per_second']:,} windows/s",
        file=sys.stderr,
    )
    scorer = Scorer(args.nab, files)
    published = sorted(p.name for p in (args.nab / "results").iterdir() if p.is_dir())
    wanted = args.anchors.split(",") if args.anchors is not None else QUICK_ANCHORS if args.quick else published
    published = [p for p in published if p in wanted or p == "null"]
    results = {}
    for name in OURS:
        with contextlib.redirect_stdout(io.StringIO()):
            results[name] = scorer.score(work / "results" / name, 0.5 if name == "lingtingAlert" else None)
    for name in published:
        t = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            results[name] = scorer.score(args.nab / "results" / name)
        print(f"  scored {name} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    table = summarise(results, files, scorer)
    print_tables(table, files)
    synthetic = None if args.no_scenarios else scenarios(args.quick)
    if synthetic:
        print("\nsynthetic scenarios (bench/detection.py, regression)")
        for part in ("monitor", "backtest"):
            r = synthetic[part]
            print(
                f"  {part:<9} recall {r['recall']}  false alerts/brand-week {r['false_alerts_per_brand_week']}  "
                f"median delay {r['median_delay_windows']} windows  ({r['crises']} crises)"
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "nab.json"
    out.write_text(
        json.dumps(
            {
                "date": datetime.now().isoformat(timespec="seconds"),
                "quick": args.quick,
                "files": files,
                "speed": speed,
                "table": table,
                "scenarios": synthetic,
                "per_file": {
                    n: {
                        "threshold": r["standard"]["threshold"],
                        "hits": r["hits"],
                        "standard": {f: row["Score"] for f, row in r["standard"]["files"].items()},
                    }
                    for n, r in results.items()
                },
                "seconds": round(time.perf_counter() - t0, 1),
            },
            indent=1,
            default=str,
        ),
        encoding="utf-8",
    )
    print(f"\nwrote {out.relative_to(ROOT)} in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
