"""The shipped classifier: quality on held-out data, robustness, speed, determinism."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from earful.pipeline.schema import Labels
from earful.understanding import INTENTS, SENTIMENTS, UNKNOWN
from earful.understanding.evaluation import read_tsv, score, vader_sentiment
from earful.understanding.features import featurize
from earful.understanding.models import Understanding, artifacts_present, shipped
from earful.understanding.training import INTENT_SET, default_data_dir, fit_head, predict
from tests.conftest import FIXTURES

pytestmark = pytest.mark.skipif(not artifacts_present(), reason="no trained artifacts")
# The full TweetEval validation set: ../shared/data (or EARFUL_TRAIN_DATA), not in a clone.
VAL = default_data_dir() / "tweeteval-sentiment" / "val.tsv"


@pytest.fixture(scope="module")
def model() -> Understanding:
    return shipped()


@pytest.mark.skipif(
    not VAL.is_file(),
    reason=f"needs {VAL} (the full TweetEval validation set, from ../shared/data or "
    "EARFUL_TRAIN_DATA; not in a clone)",
)
def test_sentiment_beats_the_target_and_vader_on_tweeteval_val(model: Understanding) -> None:
    rows = read_tsv(VAL)
    texts = [r["text"] for r in rows]
    truth = [r["label"] for r in rows]
    ours = score(truth, [lab.sentiment or "" for lab in model.classify(texts)], SENTIMENTS)
    vader = score(truth, vader_sentiment(texts), SENTIMENTS)
    assert ours.macro_recall >= 0.70
    assert ours.macro_recall >= vader.macro_recall + 0.08


def test_intent_and_sentiment_on_the_hand_labeled_set(model: Understanding) -> None:
    """Texts that never appear in ../shared/data (or only in the unlabeled TWCS sample)."""
    rows = read_tsv(INTENT_SET)
    labels = model.classify([r["text"] for r in rows])
    intent = score([r["label"] for r in rows], [lab.intent or "" for lab in labels], INTENTS)
    sentiment = score([r["sentiment"] for r in rows], [lab.sentiment or "" for lab in labels])
    complaint = score(
        ["c" if r["label"] == "complaint" else "n" for r in rows],
        ["c" if lab.intent == "complaint" else "n" for lab in labels],
    )
    assert intent.macro_f1 >= 0.70, intent
    assert sentiment.macro_recall >= 0.70, sentiment
    assert complaint.macro_f1 >= 0.75, complaint


def test_urgency_ranks_severe_complaints_above_chatter(model: Understanding) -> None:
    calm, severe = model.classify(
        [
            "Heading to the shops later, might grab a coffee",
            "@Airline my son had an allergic reaction on board and the crew refused to help, "
            "we are talking to our lawyer",
        ]
    )
    assert calm.urgency is not None and severe.urgency is not None
    assert severe.urgency > calm.urgency
    assert (severe.urgency_score or 0) > (calm.urgency_score or 0)


BAD = [
    "",
    " ",
    "😀😀😀🔥",
    "https://t.co/abc https://example.com/x?y=1",
    "@someone @other",
    "x" * 100_000,
    "word " * 20_000,
    "Привет! 你好 مرحبا hello שלום 🙂",
    "\\ud83d broken escape \\u12",
    "\x00\x01\x02",
    "?!?!...",
]


def test_bad_input_gets_labels_never_an_exception(model: Understanding) -> None:
    labels = model.classify(BAD)
    assert len(labels) == len(BAD)
    for lab in labels:
        assert lab.language
        assert (lab.sentiment_score is None) == (lab.sentiment is None)
        if lab.sentiment is None:  # explicitly "not scored": the text is not English
            assert lab.language != "en" and lab.urgency is None, lab
            assert lab.intent in (None, "question"), lab
            continue
        assert lab.sentiment in SENTIMENTS and lab.intent in INTENTS
        assert lab.urgency in range(5)
        for value in (lab.intent_score, lab.urgency_score):
            assert value is not None and 0.0 <= value <= 1.0
    assert labels[0].language == UNKNOWN
    assert labels[2].language == UNKNOWN
    assert labels[3].language == UNKNOWN
    assert model.classify([]) == []


def test_language(model: Understanding) -> None:
    texts = [
        "Where is my parcel? It was due yesterday",
        "Où est mon colis ? Il devait arriver hier",
        "¿Dónde está mi paquete? Debía llegar ayer",
        "Wo ist mein Paket? Es sollte gestern kommen",
    ]
    assert [lab.language for lab in model.classify(texts)] == ["en", "fr", "es", "de"]


def test_shouting_is_read_in_its_own_language(model: Understanding) -> None:
    """Capitals do not hide the language: an English post in capitals is scored (the
    language model read these as Volapük and Italian), a French one still is not."""
    texts = [
        "SKYWARD AIR APP IS DOWN AND I CAN'T CHECK IN FOR THE LOUNGE!!",
        "SMOOTHEST FLIGHT EVER WITH SKYWARD AIR. LANDED EARLY TOO!",
        "THANKS @LOAFANDLADLE FOR THE SURPRISE COOKIE IN MY REFUND!",
        "MON VOL A ÉTÉ ANNULÉ ET PERSONNE NE RÉPOND, SERVICE NUL",
    ]
    down, smooth, thanks, french = model.classify(texts)
    assert (down.language, down.sentiment, down.intent) == ("en", "negative", "complaint")
    assert down.urgency is not None and down.urgency > 0
    assert (smooth.language, smooth.sentiment) == ("en", "positive")
    assert (thanks.language, thanks.intent) == ("en", "compliment")
    assert (french.language, french.sentiment, french.urgency) == ("fr", None, None)


def test_other_languages_are_not_scored_by_the_english_model(model: Understanding) -> None:
    """es/pt/fr/de (any language but English) get no sentiment, complaint or urgency rather
    than a guess; a question mark still reads as a question."""
    texts = [
        "Mi vuelo llegó con cinco horas de retraso, pésimo servicio",
        "Meu voo atrasou cinco horas, péssimo atendimento da companhia",
        "Mon vol a eu cinq heures de retard, service horrible",
        "Mein Flug hatte fünf Stunden Verspätung, furchtbarer Service",
        "Il mio volo è arrivato con cinque ore di ritardo, servizio pessimo",
        "My flight was five hours late, horrible service",
        ":) :) <3",
    ]
    labels = model.classify(texts)
    assert [lab.language for lab in labels[:6]] == ["es", "pt", "fr", "de", "it", "en"]
    for lab in labels[:5]:
        assert lab.sentiment is None and lab.sentiment_score is None, lab
        assert (lab.intent, lab.intent_score, lab.urgency, lab.urgency_score) == (None,) * 4
    assert labels[5].sentiment == "negative" and labels[5].intent == "complaint"
    asked = model.classify(["¿Dónde está mi paquete? Debía llegar ayer"])[0]
    assert (asked.language, asked.sentiment, asked.intent, asked.urgency) == (
        "es",
        None,
        "question",
        None,
    )
    assert labels[6].sentiment == "positive"  # no letters: emoticons are scored


def test_labels_are_deterministic_and_batch_independent(model: Understanding) -> None:
    texts = ["love it", "hate it", "where is it?", "my card was charged twice"]
    together = model.classify(texts)
    alone = [model.classify([t])[0] for t in texts]
    assert together == alone
    assert all(isinstance(lab, Labels) for lab in together)


def test_throughput_of_all_heads_on_one_core(model: Understanding) -> None:
    rows = read_tsv(INTENT_SET)
    texts = [r["text"] for r in rows] * 20
    model.classify(texts[:50])
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        model.classify(texts)
        best = max(best, len(texts) / (time.perf_counter() - t0))
    # The target is 2,000 posts/s; the test machine is shared, so allow slack here.
    assert best >= 1_000, best


def test_training_is_deterministic_on_a_small_subset() -> None:
    """Fit on a small labeled sample in the repo (tests/fixtures), never on ../shared."""
    rows = read_tsv(FIXTURES / "xci-sentiment.tsv")
    feats = featurize([r["text"] for r in rows])
    y = [r["label"] for r in rows]
    a = fit_head("s", feats, y, C=0.5)
    b = fit_head("s", feats, y, C=0.5)
    assert a.classes == b.classes == tuple(SENTIMENTS)
    for name in ("w_cols", "w_coef", "c_cols", "c_coef", "d_coef", "intercept"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    # ...and what it fits is a real model: it learns its sample, and other labels change it.
    assert np.count_nonzero(a.w_coef) and np.count_nonzero(a.c_coef)
    fitted = predict(a, feats)
    assert sum(p == t for p, t in zip(fitted, y, strict=True)) / len(y) >= 0.8  # chance: 1/3
    other = fit_head("s", feats, y[1:] + y[:1], C=0.5)
    assert not np.array_equal(a.w_coef, other.w_coef)


def test_the_package_imports_fast_and_loads_no_model() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import earful; d = time.perf_counter() - t; "
        "import earful.pipeline.runner, earful.cli.main; "
        "print(d, 'sklearn' in sys.modules, 'fasttext' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, sklearn_loaded, fasttext_loaded = out.stdout.split()
    assert float(seconds) < 1.0
    assert sklearn_loaded == "False" and fasttext_loaded == "False"


def test_loading_and_classifying_never_touch_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = Understanding()
    assert fresh.classify(["Bonjour, où est ma commande ?"])[0].language == "fr"
