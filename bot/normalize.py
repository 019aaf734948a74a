"""Text normalisation shared by indexing and querying.

Both sides must go through exactly the same steps, otherwise a phrasing in
the knowledge base and the same words typed by a user would not match.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from opencc import OpenCC

# OpenCC builds its conversion tables on construction; one instance is enough
# and convert() is read-only, so sharing it between Bot instances is safe.
_T2S = OpenCC("t2s")

_WS_RE = re.compile(r"\s+")
# Anything that is not a letter, digit or CJK ideograph counts as punctuation
# for matching (covers ASCII and CJK punctuation, emoji, symbols).
_PUNCT_RE = re.compile(r"[^\w\u4e00-\u9fff]+|_+")


def to_simplified(text: str) -> str:
    return _T2S.convert(text)


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Traditional→Simplified, full-width→half-width, lowercase, single spaces.

    Punctuation is kept (receipt numbers like 2024-0426-000123 need the dashes).
    Cached because chat traffic repeats the same short questions a lot and
    OpenCC is the slowest step of the pipeline.
    """
    if not text:
        return ""
    # NFKC folds full-width ASCII (２０２４－０４２６, ＡＢＣ) and circled digits.
    text = unicodedata.normalize("NFKC", text)
    text = to_simplified(text)
    text = text.lower()
    return _WS_RE.sub(" ", text).strip()


def strip_punct(text: str) -> str:
    """Replace punctuation with spaces (for matching only, never for display)."""
    return _WS_RE.sub(" ", _PUNCT_RE.sub(" ", text)).strip()


def normalize_for_match(text: str) -> str:
    return strip_punct(normalize(text))
