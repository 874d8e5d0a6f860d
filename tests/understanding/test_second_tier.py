"""The second tier on its own: bad input gets labels, files are checked, no torch at run time."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from earful.understanding import ARTIFACTS, INTENTS, SENTIMENTS
from earful.understanding.features import featurize
from earful.understanding.tier2 import MANIFEST, SecondTier, at_prior, present
from earful.understanding.transformer import ArtifactError

pytestmark = pytest.mark.skipif(not present(), reason="no second-tier artifacts")

BAD = {
    "empty": "",
    "whitespace": " \n\t ",
    "emoji": "🙂🙂🙂",
    "url": "https://example.com/x?y=1",
    "huge": "acme " + "x" * 100_000,
    "huge words": "the flight was late " * 6_000,
    "control": "acme \x00\x01\x07 broken\x1b[31m red \u202e reversed",
    "mixed": "acme Привет! 你好 مرحبا hello שלום 🙂",
    "escapes": "acme \\ud83d\\ broken \\u12 escape",
    "surrogate": "acme \ud800 lone surrogate",
}


@pytest.fixture(scope="module")
def tier() -> SecondTier:
    return SecondTier()


def test_bad_input_gets_labels_or_not_scored(tier: SecondTier) -> None:
    labels = tier.classify(list(BAD.values()))
    assert len(labels) == len(BAD)
    for name, lab in zip(BAD, labels, strict=True):
        assert lab.language, name
        if lab.sentiment is None:  # explicitly not scored, never for English
            assert lab.language != "en" and lab.sentiment_score is None, (name, lab)
            assert lab.urgency is None and lab.intent in (None, "question"), (name, lab)
        else:
            assert lab.sentiment in SENTIMENTS, (name, lab)
            assert lab.intent in INTENTS and lab.urgency in range(5), (name, lab)
    mixed = labels[list(BAD).index("mixed")]
    # Another script: not an English model's guess, of sentiment, complaint or urgency.
    assert (mixed.sentiment, mixed.urgency) == (None, None)


def test_text_that_is_not_a_string_reads_as_empty(tier: SecondTier) -> None:
    got = tier.classify([None, 42, ""])  # type: ignore[list-item]
    assert got[0] == got[1] == got[2]


def test_sorting_and_batching_keep_each_text_in_its_place(tier: SecondTier) -> None:
    texts = [f"my bag is lost again {'!' * i} day {i}" for i in range(70)] + ["great crew"]
    texts[3] = "thank you so much, the crew was wonderful and kind " * 5  # the longest
    together = tier.readings(texts).sentiment
    alone = np.vstack([tier.readings([t]).sentiment for t in [*texts[::10], texts[3]]])
    # Dynamic int8 quantizes activations per batch, so a text's reading moves a little
    # with its batch-mates; a text mixed up with another would move far more.
    assert np.abs(together[[*range(0, 71, 10), 3]] - alone).max() < 0.05


def test_complaint_and_urgency_are_the_severity_readers_blended_with_the_fast_heads(
    tier: SecondTier,
) -> None:
    assert "severity" in tier.manifest  # the shipped tier reads severity with a transformer
    texts = [
        "@skywardair cancelled my flight, lost my bag, no refund. Disgusting, calling my lawyer",
        "@skywardair is the flight to Lisbon on time tonight?",
        "thank you @skywardair, the crew was wonderful",
        "😡😡😡",  # nothing the transformers can read: the fast tier's reading stands
    ]
    got = tier.readings(texts)
    fast = tier.fast.readings(featurize(texts), texts)
    tier.load()
    severity = tier._severity
    assert severity is not None
    proba = severity.encode(texts).proba
    w = tier.blend
    levels = list(severity.classes)
    complaint = 1.0 - proba[:, levels.index("0")]
    # The balanced fast head is put back at the complaints' real share before the blend.
    theirs = at_prior(fast.complaint, tier.fast_prior["complaint"])
    expected = w["complaint"] * complaint + (1 - w["complaint"]) * theirs
    assert np.allclose(got.complaint[:3], expected[:3], atol=1e-6)
    assert got.complaint[3] == fast.complaint[3]
    names = [str(int(x)) for x in fast.levels]
    urgency = proba[:, [levels.index(n) for n in names]]
    blended = w["urgency"] * urgency + (1 - w["urgency"]) * fast.urgency
    assert np.allclose(got.urgency[:3], blended[:3])
    assert np.array_equal(got.urgency[3], fast.urgency[3])
    labels = tier.classify(texts)
    assert labels[0].intent == "complaint" and labels[0].urgency >= 2
    assert labels[1].intent != "complaint" and labels[2].intent != "complaint"
    assert labels[0].urgency > labels[2].urgency


def test_a_balanced_heads_probability_is_put_back_at_the_real_share() -> None:
    p = np.array([0.0, 0.2, 0.5, 0.8, 1.0])
    back = at_prior(p, 0.36)
    # Even odds from a balanced head are the class's share; the ends stay where they are;
    # the order is kept; the odds are scaled by share / (1 - share).
    assert back[2] == pytest.approx(0.36) and back[0] == 0.0 and back[4] == 1.0
    assert np.all(np.diff(back) > 0)
    odds = back[1:4] / (1 - back[1:4])
    assert np.allclose(odds, p[1:4] / (1 - p[1:4]) * 0.36 / 0.64)
    assert np.array_equal(at_prior(p, 0.5), p)


def test_a_file_that_is_not_the_manifests_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "artifacts"
    shutil.copytree(ARTIFACTS, copy)
    manifest = json.loads((copy / MANIFEST).read_text())
    model = copy / manifest["model"]["file"]
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        SecondTier(copy).load()


def test_the_shipped_files_are_small_and_in_the_package_data() -> None:
    manifest = json.loads((ARTIFACTS / MANIFEST).read_text())
    models = [manifest["model"], *([manifest["severity"]] if "severity" in manifest else [])]
    names = sorted({m[key] for m in models for key in ("file", "tokenizer")})
    names += [h["file"] for h in manifest["heads"].values()]
    total = sum((ARTIFACTS / n).stat().st_size for n in names)
    assert total < 50 * 2**20, total  # two int8 MiniLM readers, one shared tokenizer
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"understanding/artifacts/*"' in pyproject
    assert all("/" not in n for n in names)  # the glob holds files, not folders


def test_inference_needs_neither_torch_nor_pickle() -> None:
    code = (
        "import sys, pickle\n"
        "def refuse(*a, **k): raise RuntimeError('pickle used')\n"
        "pickle.loads = pickle.load = refuse\n"
        "from earful.understanding.tier2 import SecondTier\n"
        "print(SecondTier().classify(['my flight is late again'])[0].sentiment)\n"
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in SENTIMENTS
