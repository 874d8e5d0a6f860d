"""`earful eval`, `earful train intent` and `earful reclassify`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from earful.brands.service import create_brand
from earful.connectors.replay import FileReplay
from earful.db import transaction
from earful.demo.generate import brands_config, write
from earful.models import Post
from earful.pipeline.runner import Pipeline
from earful.understanding.models import artifacts_present, shipped
from earful.understanding.tier2 import present as tier2_present

pytestmark = pytest.mark.skipif(not artifacts_present(), reason="no trained artifacts")
KEYS = {"macro_recall", "macro_f1", "accuracy", "posts_per_s", "n"}

DATA = {
    "sentiment": [
        ("positive", "I love this, best service ever!"),
        ("negative", "worst airline, lost my bag and nobody cares"),
        ("neutral", "The store opens at 9 tomorrow"),
    ],
    "complaint": [
        ("complaint", "@Shop my order never arrived and support ignores me"),
        ("not_complaint", "Lovely weather today"),
    ],
    "urgency": [
        ("0", "Lovely weather today"),
        ("4", "@Bank you stole my money, my lawyer will be in touch"),
        ("2", "@Shop the app keeps crashing when I pay"),
    ],
    "intent": [
        ("complaint", "@Shop my order never arrived and support ignores me"),
        ("question", "@Shop what time do you open on Sundays?"),
        ("compliment", "@Shop thank you, the new app is wonderful"),
        ("other", "Lovely weather today"),
    ],
    "language": [("en", "Where is my parcel?"), ("fr", "Où est mon colis ?")],
}


def tsv(tmp_path: Path, rows: list[tuple[str, str]]) -> Path:
    path = tmp_path / "data.tsv"
    path.write_text(
        "id\tlabel\ttext\n" + "".join(f"{i}\t{a}\t{b}\n" for i, (a, b) in enumerate(rows))
    )
    return path


@pytest.mark.parametrize("task", sorted(DATA))
def test_eval_json(task: str, tmp_path: Path) -> None:
    from earful.cli.main import app

    data = tsv(tmp_path, DATA[task])
    result = CliRunner().invoke(app, ["eval", task, "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc.keys() >= KEYS
    assert doc["n"] == len(DATA[task])
    assert 0.0 <= doc["macro_recall"] <= 1.0 and doc["posts_per_s"] > 0
    if task in ("sentiment", "urgency"):
        assert doc["baseline"]["name"] == "vader"
        assert doc["baseline"].keys() >= KEYS
    if task == "urgency":
        assert "spearman" in doc
    if task != "language" and tier2_present():  # both tiers, each with its rate
        assert doc["second_tier"]["name"].startswith("second tier t2-")
        assert doc["second_tier"].keys() >= KEYS and doc["second_tier"]["posts_per_s"] > 0
    if task == "language":
        assert doc["accuracy"] == 1.0


def test_eval_table_shows_scores_and_the_confusion_matrix(tmp_path: Path) -> None:
    from earful.cli.main import app

    result = CliRunner().invoke(
        app, ["eval", "sentiment", "--data", str(tsv(tmp_path, DATA["sentiment"]))]
    )
    assert result.exit_code == 0, result.output
    for text in ("macro recall", "macro F1", "accuracy", "posts/s", "vader", "confusion"):
        assert text in result.output
    if tier2_present():
        assert "second tier" in result.output
    for text in ("fast tier",):
        assert text in result.output


@pytest.mark.skipif(not tier2_present(), reason="no second tier shipped")
def test_eval_intent_scores_both_tiers_on_the_hand_labeled_set() -> None:
    """The shipped hand-labeled posts (never trained on): each tier's intent, per class."""
    from earful.cli.main import app
    from earful.understanding import INTENTS

    data = Path(__file__).parents[2] / "src/earful/understanding/data/intent.tsv"
    result = CliRunner().invoke(app, ["eval", "intent", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    rows = data.read_text(encoding="utf-8").splitlines()[1:]
    assert doc["n"] == len(rows)
    fast, second = doc, doc["second_tier"]
    for run in (fast, second):
        # Posts in a language no model reads are "not scored" and count as errors.
        assert run["labels"] in (list(INTENTS), [*INTENTS, "not scored"])
        assert sum(map(sum, run["confusion"])) == len(rows)
    # The transformer is there to read intent better than the linear heads do.
    assert second["macro_f1"] > fast["macro_f1"]


def test_eval_refuses_a_file_without_label_and_text(tmp_path: Path) -> None:
    from earful.cli.main import app

    bad = tmp_path / "bad.tsv"
    bad.write_text("a\tb\n1\t2\n")
    result = CliRunner().invoke(app, ["eval", "sentiment", "--data", str(bad)])
    assert result.exit_code == 2
    assert "label" in result.output


def test_reclassify_relabels_posts_of_older_models(sqlite_engine: Engine, tmp_path: Path) -> None:
    from earful.cli.main import app

    engine = sqlite_engine
    with transaction(engine) as session:
        for cfg in brands_config():
            create_brand(session, cfg["slug"], cfg["name"], cfg["keywords"], cfg["handles"])
    corpus = tmp_path / "c.jsonl"
    write(corpus, seed=5, posts=300)
    Pipeline(engine).ingest(FileReplay(corpus, "jsonl", batch_size=100))
    with engine.begin() as conn:
        stale = update(Post).where(Post.id % 2 == 0).values(model_version="old", sentiment=None)
        conn.execute(stale)
    result = CliRunner().invoke(app, ["reclassify", "--database", str(engine.url)])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        versions = set(conn.execute(select(Post.model_version)).scalars())
        # Only non-English posts are left without sentiment ("not scored").
        missing = conn.execute(
            select(Post.id).where(Post.sentiment.is_(None), Post.language == "en")
        ).all()
    assert versions == {shipped().version}
    assert not missing
