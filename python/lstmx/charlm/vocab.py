"""Characters <-> ids for character language models, with an out-of-vocabulary id.

``lstmx.data.CharTokenizer`` splits text into characters but has no unknown symbol, and the
word ``Vocab``'s specials (``<pad>``, ``<sos>``, ``<eos>``) mean nothing to a model that reads
one endless stream of characters. ``CharVocab`` keeps only what such a model needs: id 0 for
any character it has not seen, then the known characters in code-point order.
"""

from __future__ import annotations

import unicodedata

import numpy as np
from numpy.typing import ArrayLike

UNKNOWN = "\ufffd"  # decode() writes the Unicode replacement character for id 0


class CharVocab:
    """Id 0 = unknown character, ids 1.. = ``chars`` sorted by code point.

    Text is NFC-normalized first (as ``lstmx.data.CharTokenizer`` does), so "é" written as
    "e" + combining accent is one character.

    Example::

        >>> v = CharVocab.from_text("hello")
        >>> v.chars, len(v)
        ('ehlo', 5)
        >>> v.encode("hole!")
        array([3, 4, 2, 1, 0])
        >>> v.decode([3, 1, 2, 2, 4])
        'hello'
    """

    unknown_id = 0

    def __init__(self, chars: str) -> None:
        if not isinstance(chars, str):
            raise TypeError(f"chars must be a str of distinct characters, got "
                            f"{type(chars).__name__}")
        if not chars:
            raise ValueError("chars must hold at least one character")
        self.chars = "".join(sorted(set(chars)))
        if len(self.chars) != len(chars):
            raise ValueError(f"chars must be distinct, got {len(chars)} characters of which "
                             f"{len(self.chars)} differ")
        self._codes = np.array([ord(ch) for ch in self.chars], dtype=np.uint32)
        self._table = np.array([UNKNOWN] + list(self.chars))

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of every distinct character of ``text`` (after NFC)."""
        text = _normalize(text)
        if not text:
            raise ValueError("text is empty: a character vocabulary needs some text")
        return cls("".join(set(text)))

    def __len__(self) -> int:
        """Number of ids, the unknown one included: ``len(chars) + 1``."""
        return len(self.chars) + 1

    def __repr__(self):
        return f"CharVocab({len(self.chars)} characters + unknown)"

    def encode(self, text: str) -> np.ndarray:
        """``text`` (str) -> ids, int64 array (len(text),); unseen characters get id 0."""
        codes = np.frombuffer(_normalize(text).encode("utf-32-le"), dtype=np.uint32)
        pos = np.searchsorted(self._codes, codes)
        pos = np.minimum(pos, len(self._codes) - 1)
        return np.where(self._codes[pos] == codes, pos + 1, 0).astype(np.int64)

    def decode(self, ids: ArrayLike) -> str:
        """Ids (any integer sequence) -> str; id 0 becomes U+FFFD."""
        ids = np.asarray(ids)
        if ids.size and (ids.dtype.kind not in "iu" or ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"ids must be integers in [0, {len(self)}), got {ids!r}")
        return "".join(self._table[ids.reshape(-1)])


def _normalize(text):
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return unicodedata.normalize("NFC", text)
