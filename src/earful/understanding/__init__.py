"""Understanding: sentiment, intent, urgency and language of each post.

Nothing heavy is imported here: models load lazily on first use (see :mod:`.models`).
"""

from __future__ import annotations

from pathlib import Path

ARTIFACTS = Path(__file__).parent / "artifacts"

SENTIMENTS = ("negative", "neutral", "positive")
INTENTS = ("complaint", "question", "compliment", "other")
SEVERITY_CLASSES = ("0", "1", "2", "3", "4")  # the severity corpus's levels (0: no complaint)
UNKNOWN = "unknown"
