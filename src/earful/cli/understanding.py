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
from earful.understanding import INTENTS

DatabaseOpt = Annotated[
    str | None, typer.Option("--database", help="Database URL (default: EARFUL_DATABASE_URL).")
]


class TrainTask(StrEnum):
    sentiment = "sentiment"
    complaint = "complaint"
    urgency = "urgency"
    intent = "intent"
    all = "all"
    transformer = "transformer"
    severity = "severity"
    second_tier = "second-tier"
    export_corrections = "export-corrections"


class EvalTask(StrEnum):
    sentiment = "sentiment"
    complaint = "complaint"
    urgency = "urgency"
    intent = "intent"
    language = "language"


def train(
    task: Annotated[
        TrainTask,
        typer.Argument(
            help="Which head to train (or all); `transformer`: fine-tune, export and build "
            "the second tier (needs the `train` extra); `severity`: cross-validate, fine-tune "
            "and export the severity reader into --work/export (the `train` extra); "
            "`second-tier`: build it from the models exported in --work; "
            "`export-corrections`: agents' label corrections."
        ),
    ],
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Labeled corpora (default: ../shared/data)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Artifact directory (default: the package's); for export-corrections the "
            "JSONL file (default: standard output).",
        ),
    ] = None,
    with_corrections: Annotated[
        Path | None,
        typer.Option("--with-corrections", help="Add these exported corrections to training."),
    ] = None,
    work: Annotated[
        Path | None,
        typer.Option("--work", help="transformer: where the fine-tuned weights are kept."),
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", min=1, help="transformer: stop after N steps.")
    ] = None,
    database: DatabaseOpt = None,
) -> None:
    from earful.understanding import ARTIFACTS
    from earful.understanding.training import train as run_training
    from earful.understanding.training import train_intent

    if task is TrainTask.export_corrections:
        _export_corrections(out, database)
        return
    if with_corrections is not None and not with_corrections.is_file():
        err_console.print(f"[red]error:[/red] no such file: {with_corrections}")
        raise typer.Exit(2)
    target = out or ARTIFACTS
    t0 = time.perf_counter()
    try:
        if task is TrainTask.intent:
            report: dict[str, Any] = {"intent": train_intent(target)}
        elif task is TrainTask.transformer:
            report = _train_transformer(data_dir, target, work, with_corrections, max_steps)
        elif task is TrainTask.severity:
            report = _train_severity(data_dir, target, work)
        elif task is TrainTask.second_tier:
            report = _build_second_tier(data_dir, target, work)
        else:
            report = run_training(task.value, data_dir, target, with_corrections)
    except ValueError as e:
        err_console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    report["seconds"] = round(time.perf_counter() - t0, 1)
    console.print_json(json.dumps(report))


def _trainer() -> Any:
    try:
        from earful.understanding import transformer_training
    except ImportError as e:  # torch and transformers come with the `train` extra only
        err_console.print(f"[red]error:[/red] {e}; install the `train` extra")
        raise typer.Exit(2) from e
    return transformer_training


def _train_severity(data_dir: Path | None, out: Path, work: Path | None) -> dict[str, Any]:
    """The severity reader (complaint and urgency), cross-validated then fit on every row;
    the second tier is rebuilt when the sentiment reader is exported beside it."""
    work = work or out / "work"
    entry = _trainer().train_severity(data_dir, work / "export", work, log=err_console.print)
    if not (work / "export" / "sentiment.int8.onnx").is_file():
        err_console.print(
            f"the sentiment reader is not in {work / 'export'}: put it there (`earful train "
            "transformer`, or the shipped tier2.int8.onnx and tier2.tokenizer.json as "
            "sentiment.*), then run `earful train second-tier --work` on that folder"
        )
        return {"severity": entry}
    return {"severity": entry, **_build_second_tier(data_dir, out, work / "export")}


def _train_transformer(
    data_dir: Path | None,
    out: Path,
    work: Path | None,
    with_corrections: Path | None,
    max_steps: int | None,
) -> dict[str, Any]:
    tt = _trainer()
    from earful.understanding.training import corrections

    extra = corrections(with_corrections, "sentiment") if with_corrections else []
    work = work or out / "work"
    entry = tt.train_transformer(
        data_dir,
        work / "export",
        work,
        extra,
        max_steps=max_steps,
        epochs=2,  # the shipped recipe
        log=err_console.print,
    )
    built = _build_second_tier(data_dir, out, work / "export", entry["training"])
    return {"transformer": entry, **built}


def _build_second_tier(
    data_dir: Path | None, out: Path, exported: Path | None, training: Any = None
) -> dict[str, Any]:
    """Measure the exported model, fit its complaint and urgency heads, write tier2.json."""
    from earful.understanding.tier2_training import build

    if exported is None or not (exported / "sentiment.int8.onnx").is_file():
        err_console.print("[red]error:[/red] --work must hold sentiment.int8.onnx")
        raise typer.Exit(2)
    if training is None and (exported / "training.json").is_file():
        training = json.loads((exported / "training.json").read_text())
    manifest = build(exported, out, data_dir, training, log=err_console.print)
    return {"second_tier": {k: manifest[k] for k in ("version", "blend", "reports")}}


def _export_corrections(out: Path | None, database: str | None) -> None:
    from earful.conversations.corrections import export
    from earful.migrate import upgrade

    engine = engine_or_exit(database)
    upgrade(engine)
    with engine.connect() as conn:
        lines = [json.dumps(doc, ensure_ascii=False) + "\n" for doc in export(conn)]
    if out is None:
        print("".join(lines), end="")
        return
    out.write_text("".join(lines), encoding="utf-8")
    err_console.print(f"exported {len(lines):,} corrections to {out}")


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
        predicted, order = _predicted(task, model.classify(texts))
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
    if task != "language":
        second = _second_tier_eval(task, texts, truth)
        if second is not None:
            result["second_tier"] = second
    return result


NOT_SCORED = "not scored"  # a post in a language no model reads: counted as an error


def _predicted(task: str, labels: list[Any]) -> tuple[list[str], list[str]]:
    """A task's predictions from labels, and the label order of its report."""
    if task == "sentiment":
        got = [lab.sentiment or NOT_SCORED for lab in labels]
        return got, ["negative", "neutral", "positive"]
    if task == "complaint":
        got = ["complaint" if lab.intent == "complaint" else "not_complaint" for lab in labels]
        return got, ["complaint", "not_complaint"]
    if task == "intent":
        return [lab.intent or NOT_SCORED for lab in labels], list(INTENTS)
    levels = [NOT_SCORED if lab.urgency is None else str(lab.urgency) for lab in labels]
    return levels, ["0", "1", "2", "3", "4"]


def _second_tier_eval(task: str, texts: list[str], truth: list[str]) -> dict[str, Any] | None:
    """The second tier on the same rows (its rate includes the fast tier it blends with)."""
    from earful.understanding import evaluation as ev
    from earful.understanding.tier2 import shipped_second_tier

    tier = shipped_second_tier()
    if tier is None:
        return None
    tier.classify(["warm up :)"])
    t0 = time.perf_counter()
    predicted, order = _predicted(task, tier.classify(texts))
    elapsed = time.perf_counter() - t0
    s = ev.score(truth, predicted, order)
    s.posts_per_s = len(texts) / elapsed if elapsed > 0 else 0.0
    if task == "urgency":
        s.extra["spearman"] = _spearman(truth, predicted)
    return {"name": f"second tier {tier.version}", **s.as_json()}


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
    runs = [("earful (fast tier)", result)]
    if "second_tier" in result:
        runs.append((result["second_tier"]["name"], result["second_tier"]))
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
    second_tier: Annotated[
        bool,
        typer.Option(
            "--second-tier",
            help="Relabel customer posts the shipped second tier has not labeled (posts "
            "stored while it was off, or while it failed). Agents' corrections are kept.",
        ),
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Re-label every post whose labels came from another model version."""
    from earful.migrate import upgrade
    from earful.understanding.models import shipped
    from earful.understanding.repository import LabelRepository

    engine = engine_or_exit(database)
    upgrade(engine)
    if second_tier:
        _reclassify_second_tier(engine, batch_size)
        return
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


def _reclassify_second_tier(engine: Any, batch_size: int) -> None:
    from earful.pipeline.second_tier import relabel
    from earful.understanding.repository import LabelRepository
    from earful.understanding.tier2 import shipped_second_tier

    tier = shipped_second_tier()
    if tier is None:
        err_console.print("[red]error:[/red] the second tier is not installed or failed to load")
        raise typer.Exit(2)
    done, last = 0, 0
    while True:
        with engine.connect() as conn:
            ids = LabelRepository(conn).second_tier_stale(tier.version, last, batch_size)
        if not ids:
            break
        done += relabel(engine, ids, tier)
        last = ids[-1]
    console.print(f"relabeled {done:,} posts with the second tier {tier.version}")
