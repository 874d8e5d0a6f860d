"""`earful train`, `earful eval` and `earful reclassify`."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from earful.cli.context import console, engine_or_exit, err_console

DatabaseOpt = Annotated[
    str | None, typer.Option("--database", help="Database URL (default: EARFUL_DATABASE_URL).")
]


class TrainTask(StrEnum):
    sentiment = "sentiment"
    complaint = "complaint"
    urgency = "urgency"
    intent = "intent"
    all = "all"


class EvalTask(StrEnum):
    sentiment = "sentiment"
    complaint = "complaint"
    urgency = "urgency"
    language = "language"


def train(
    task: Annotated[TrainTask, typer.Argument(help="Which head to train (or all).")],
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Labeled corpora (default: ../shared/data)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Artifact directory (default: the package's).")
    ] = None,
) -> None:
    from earful.understanding import ARTIFACTS
    from earful.understanding.training import train as run_training
    from earful.understanding.training import train_intent

    target = out or ARTIFACTS
    t0 = time.perf_counter()
    if task is TrainTask.intent:
        report: dict[str, Any] = {"intent": train_intent(target)}
    else:
        report = run_training(task.value, data_dir, target)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    console.print_json(json.dumps(report))


def evaluate(
    task: Annotated[EvalTask, typer.Argument(help="Which classifier to score.")],
    data: Annotated[Path, typer.Option("--data", help="TSV with a header, `label` and `text`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    from earful.understanding.evaluation import read_tsv

    if not data.is_file():
        err_console.print(f"[red]error:[/red] no such file: {data}")
        raise typer.Exit(2)
    rows = read_tsv(data)
    if rows and not {"label", "text"} <= rows[0].keys():
        err_console.print(f"[red]error:[/red] {data} needs a header with `label` and `text`")
        raise typer.Exit(2)
    texts = [r.get("text") or "" for r in rows]
    truth = [(r.get("label") or "").strip() for r in rows]
    if not rows:
        err_console.print(f"[red]error:[/red] {data} holds no rows")
        raise typer.Exit(2)
    result = run_eval(task.value, texts, truth)
    if as_json:
        print(json.dumps(result))
        return
    _print_result(task.value, result)


def run_eval(task: str, texts: list[str], truth: list[str]) -> dict[str, Any]:
    """Score a classifier (and its baseline, where there is one) on labeled texts."""
    from earful.understanding import evaluation as ev
    from earful.understanding.models import LanguageDetector, shipped

    model = shipped()
    model.load()  # loading is not part of the rate
    detector = LanguageDetector()
    t0 = time.perf_counter()
    if task == "language":
        predicted = [detector.detect(t)[0] for t in texts]
        order: list[str] = []
    else:
        labels = model.classify(texts)
        if task == "sentiment":
            predicted = [lab.sentiment or "" for lab in labels]
            order = ["negative", "neutral", "positive"]
        elif task == "complaint":
            predicted = [
                "complaint" if lab.intent == "complaint" else "not_complaint" for lab in labels
            ]
            order = ["complaint", "not_complaint"]
        else:
            predicted = [str(lab.urgency) for lab in labels]
            order = ["0", "1", "2", "3", "4"]
    elapsed = time.perf_counter() - t0
    scores = ev.score(truth, predicted, order)
    scores.posts_per_s = len(texts) / elapsed if elapsed > 0 else 0.0
    if task == "urgency":
        scores.extra["spearman"] = _spearman(truth, predicted)
    result = scores.as_json()
    baseline: tuple[str, list[str], float] | None = None
    if task == "sentiment":
        t0 = time.perf_counter()
        base = ev.vader_sentiment(texts)
        baseline = ("vader", base, time.perf_counter() - t0)
    elif task == "urgency":
        t0 = time.perf_counter()
        base = [str(x) for x in ev.vader_urgency(texts)]
        baseline = ("vader", base, time.perf_counter() - t0)
    if baseline:
        name, base, seconds = baseline
        b = ev.score(truth, base, order)
        b.posts_per_s = len(texts) / seconds if seconds > 0 else 0.0
        if task == "urgency":
            b.extra["spearman"] = _spearman(truth, base)
        result["baseline"] = {"name": name, **b.as_json()}
    return result


def _spearman(truth: list[str], predicted: list[str]) -> float:
    from earful.understanding.evaluation import spearman

    def num(x: str) -> float:
        try:
            return float(x)
        except ValueError:
            return 0.0

    return spearman([num(t) for t in truth], [num(p) for p in predicted])


def _print_result(task: str, result: dict[str, Any]) -> None:
    table = Table(title=f"eval {task} (n={result['n']:,})")
    table.add_column("model")
    for col in ("macro recall", "macro F1", "accuracy", "posts/s"):
        table.add_column(col, justify="right")
    keys = ("macro_recall", "macro_f1", "accuracy")
    runs = [("earful", result)]
    if "baseline" in result:
        runs.append((result["baseline"]["name"], result["baseline"]))
    has_rho = "spearman" in result
    if has_rho:
        table.add_column("Spearman", justify="right")
    for name, r in runs:
        cells = [f"{r[k]:.3f}" for k in keys] + [f"{r['posts_per_s']:,.0f}"]
        if has_rho:
            cells.append(f"{r.get('spearman', 0.0):.3f}")
        table.add_row(name, *cells)
    console.print(table)
    for name, r in runs:
        matrix = Table(title=f"confusion ({name}): rows true, columns predicted")
        matrix.add_column("")
        for label in r["labels"]:
            matrix.add_column(label, justify="right")
        for label, row in zip(r["labels"], r["confusion"], strict=True):
            matrix.add_row(label, *(str(x) for x in row))
        console.print(matrix)


def reclassify(
    batch_size: Annotated[int, typer.Option(min=1, max=100_000)] = 2000,
    database: DatabaseOpt = None,
) -> None:
    """Re-label every post whose labels came from another model version."""
    from earful.migrate import upgrade
    from earful.understanding.models import shipped
    from earful.understanding.repository import LabelRepository

    engine = engine_or_exit(database)
    upgrade(engine)
    classifier = shipped()
    with engine.connect() as conn:
        todo = LabelRepository(conn).count_stale(classifier.version)
    done, last = 0, 0
    while True:
        with engine.begin() as conn:
            repo = LabelRepository(conn)
            rows = repo.stale(classifier.version, last, batch_size)
            if not rows:
                break
            ids = [i for i, _ in rows]
            repo.store(ids, classifier.classify([t for _, t in rows]), classifier.version)
        done += len(rows)
        last = ids[-1]
    console.print(f"reclassified {done:,} of {todo:,} posts with model {classifier.version}")
