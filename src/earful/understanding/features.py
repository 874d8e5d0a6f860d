"""Text features shared by every head: hashed word and character n-grams plus VADER scores.

Features are computed once per batch and reused by all heads, so adding a head costs one
sparse matrix product, not another pass over the text. Hashing (no vocabulary) keeps the
artifacts small and safe to load: a head is only arrays of numbers.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import scipy.sparse as sp

HASH_BITS = 19
N_HASH = 2**HASH_BITS
MAX_CHARS = 1000  # a post longer than this is judged on its start (keeps 100 KB inputs cheap)

_URL = re.compile(r"https?://\S+|www\.\S+")
_MENTION = re.compile(r"@\w+")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
_ELONGATED = re.compile(r"(\w)\1{2,}")
_SPACES = re.compile(r"\s+")
_TOKEN = re.compile(r"[#@]?\w+(?:'\w+)?|[^\w\s]+")
_NEGATION = re.compile(
    r"^(?:not|no|never|nothing|nobody|none|cannot|\w+n't|dont|cant|wont|isnt|aint|didnt|doesnt)$"
)
_CLAUSE_END = frozenset(".,!?;:")


def _unescape(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    return chr(code) if not 0xD800 <= code <= 0xDFFF else " "


def as_text(value: object) -> str:
    """What a classifier reads: a non-string is empty; lone surrogates (JSON "\\ud800"
    decodes to one) become "?", since no UTF-8 encoder downstream accepts them."""
    if not isinstance(value, str):
        return ""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


def prepare(text: str) -> str:
    """Normalize a post the way the training tweets were: @user, no URLs, lower case."""
    text = text[: MAX_CHARS * 2]
    if "\\u" in text:
        text = _ESCAPE.sub(_unescape, text)
    text = _URL.sub(" http ", text)
    text = _MENTION.sub("@user", text)
    text = _ELONGATED.sub(r"\1\1\1", text)
    return _SPACES.sub(" ", text).strip().lower()[:MAX_CHARS]


def word_features(text: str) -> list[str]:
    """Tokens (negated ones marked up to the end of the clause) and their bigrams."""
    words: list[str] = []
    negated = False
    for tok in _TOKEN.findall(text):
        if tok[0] in _CLAUSE_END:
            negated = False
            words.append(tok)
            continue
        words.append(tok + "_neg" if negated else tok)
        if _NEGATION.match(tok):
            negated = True
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


@cache
def _vectorizers() -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import HashingVectorizer

    common: dict[str, Any] = {
        "n_features": N_HASH,
        "alternate_sign": False,
        "norm": None,
        "dtype": np.float32,
    }
    words = HashingVectorizer(analyzer=word_features, **common)
    chars = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=False, **common)
    return words, chars


@cache
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


VADER_DIMS = 5
VADER_SCALE = 2.0  # weight of the lexicon scores next to the unit-norm n-gram blocks


def vader_scores(texts: Sequence[str]) -> np.ndarray:
    """compound, pos, neg and the two thresholded signs for each (raw) text."""
    analyzer = _vader()
    out = np.zeros((len(texts), VADER_DIMS), dtype=np.float32)
    for i, text in enumerate(texts):
        s = analyzer.polarity_scores(text[:MAX_CHARS])
        c = s["compound"]
        out[i] = (c, s["pos"], s["neg"], c > 0.05, c < -0.05)
    return out


# Urgency cues: what makes a complaint severe, whoever the author is (followers play no part).
CUES: dict[str, re.Pattern[str]] = {
    "safety": re.compile(
        r"\b(?:unsafe|danger\w*|injur\w*|hurt|fire|smoke|emergency|hospital|ambulance|"
        r"sick|poison\w*|allerg\w*|crash\w*|bleed\w*|stranded|stuck|hazard\w*)\b"
    ),
    "money": re.compile(
        r"(?:[$£€]\s?\d|\b(?:refund\w*|charged|overcharg\w*|double charg\w*|money|"
        r"fraud\w*|scam\w*|stolen|compensat\w*|paid|payment|bank)\b)"
    ),
    "outage": re.compile(
        r"\b(?:down|outage|not working|doesn'?t work|broken|crash(?:es|ed|ing)?|offline|"
        r"can'?t (?:log ?in|access|connect|pay)|no service|no signal|error)\b"
    ),
    "legal": re.compile(
        r"\b(?:lawyer|legal action|sue|suing|lawsuit|court|solicitor|attorney|ombudsman|"
        r"trading standards|report(?:ing)? you|bbb)\b"
    ),
    "churn": re.compile(
        r"\b(?:cancel\w*|switch(?:ing)? to|never again|last time|leaving|close my account|"
        r"take my business|won'?t be (?:back|using|buying|flying|shopping))\b"
    ),
    "delay": re.compile(r"\b(?:still|again|weeks?|days|hours|waiting|no reply|no response)\b"),
}
QUESTION = re.compile(
    r"\?|^(?:@user )*(?:how|what|when|where|why|who|which|can|could|does|do|is|are|will|"
    r"would|should|any ?one|anybody)\b"
)
CUE_DIMS = len(CUES) + 1


def cue_scores(prepared: Sequence[str]) -> np.ndarray:
    out = np.zeros((len(prepared), CUE_DIMS), dtype=np.float32)
    for i, text in enumerate(prepared):
        for j, pattern in enumerate(CUES.values()):
            if pattern.search(text):
                out[i, j] = 1.0
        if QUESTION.search(text):
            out[i, -1] = 1.0
    return out


DENSE_DIMS = VADER_DIMS + CUE_DIMS


@dataclass(slots=True)
class Features:
    """Sublinear term counts of the two hashed blocks, and the lexicon scores."""

    words: sp.csr_matrix
    chars: sp.csr_matrix
    dense: np.ndarray  # VADER scores (scaled), then the cue flags
    prepared: list[str]

    @property
    def question(self) -> np.ndarray:
        return self.dense[:, -1] > 0

    def __len__(self) -> int:
        return len(self.prepared)


def featurize(texts: Sequence[str]) -> Features:
    prepared = [prepare(t) for t in texts]
    wv, cv = _vectorizers()
    blocks = []
    for vec in (wv, cv):
        m = sp.csr_matrix(vec.transform(prepared), dtype=np.float32)
        np.log(m.data, out=m.data)
        m.data += 1.0
        blocks.append(m)
    dense = np.hstack([vader_scores(texts) * VADER_SCALE, cue_scores(prepared)])
    return Features(blocks[0], blocks[1], dense, prepared)
