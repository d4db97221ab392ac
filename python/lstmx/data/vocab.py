"""Vocabulary: tokens <-> integer ids, with four reserved specials.

    >>> v = Vocab([["a", "b", "a"], ["c", "a"]], min_freq=1)
    >>> v.tokens
    ['<pad>', '<sos>', '<eos>', '<unk>', 'a', 'b', 'c']
    >>> v.encode(["a", "zzz"], add_eos=True)
    [4, 3, 2]
    >>> v.decode([1, 4, 6, 2, 0, 0])
    ['a', 'c']

Ordinary tokens are ordered by decreasing count, ties broken by the token's text, so the
same corpus gives the same ids whatever its order.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PAD, SOS, EOS, UNK = "<pad>", "<sos>", "<eos>", "<unk>"
SPECIALS = (PAD, SOS, EOS, UNK)
PAD_ID, SOS_ID, EOS_ID, UNK_ID = range(4)

_FORMAT = "lstmx.Vocab"


class Vocab:
    """Token <-> id map: ``<pad>``=0, ``<sos>``=1, ``<eos>``=2, ``<unk>``=3, then tokens.

    ``sequences``: iterable of token lists (e.g. ``[tok.tokenize(s) for s in texts]``).
    ``min_freq``: keep tokens seen at least this often. ``max_size``: at most this many
    entries in all, specials included (the most frequent tokens win). Tokens not in the
    vocabulary encode to ``<unk>``.
    """

    def __init__(self, sequences: Iterable[Sequence[str]] = (), min_freq: int = 1,
                 max_size: int | None = None) -> None:
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an int >= 1, got {min_freq!r}")
        if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int)
                                     or max_size < len(SPECIALS)):
            raise ValueError(f"max_size must be None or an int >= {len(SPECIALS)} "
                             f"(the specials count), got {max_size!r}")
        counts: Counter[str] = Counter()
        for i, seq in enumerate(sequences):
            if isinstance(seq, str) or not isinstance(seq, (list, tuple)):
                raise TypeError(
                    f"sequences must be an iterable of token lists, e.g. "
                    f"[tokenizer.tokenize(s) for s in texts]; element {i} is "
                    f"{type(seq).__name__}")
            counts.update(seq)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted((t for t, c in counts.items() if c >= min_freq),
                      key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[:max_size - len(SPECIALS)]
        self.min_freq = min_freq
        self.max_size = max_size
        self._set_tokens(list(SPECIALS) + kept)

    def _set_tokens(self, tokens):
        self._itos = tokens
        self._stoi = {t: i for i, t in enumerate(tokens)}

    pad_id, sos_id, eos_id, unk_id = PAD_ID, SOS_ID, EOS_ID, UNK_ID

    @property
    def tokens(self) -> list[str]:
        """All tokens, index = id (a copy)."""
        return list(self._itos)

    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: object) -> bool:
        return token in self._stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self._itos == other._itos

    def __repr__(self):
        return f"Vocab(size={len(self)}, min_freq={self.min_freq}, max_size={self.max_size})"

    def __getitem__(self, token: str) -> int:
        """The id of ``token`` (``unk_id`` when absent)."""
        return self._stoi.get(token, UNK_ID)

    def token(self, index: int) -> str:
        """The token of id ``index``."""
        index = int(index)
        if not 0 <= index < len(self._itos):
            raise IndexError(f"id {index} out of range for a vocabulary of {len(self)} tokens")
        return self._itos[index]

    def encode(self, tokens: Iterable[str], add_sos: bool = False,
               add_eos: bool = False) -> list[int]:
        """List of tokens -> list of int ids; unknown tokens map to ``unk_id``."""
        if isinstance(tokens, str):
            raise TypeError("encode takes a list of tokens, not a str; tokenize it first")
        ids = [self._stoi.get(t, UNK_ID) for t in tokens]
        return ([SOS_ID] if add_sos else []) + ids + ([EOS_ID] if add_eos else [])

    def decode(self, ids: Iterable[int], strip_special: bool = True) -> list[str]:
        """Ids (any iterable of ints, e.g. a numpy row) -> list of tokens.

        With ``strip_special`` the output stops at the first ``<eos>`` and drops ``<pad>``
        and ``<sos>``; ``<unk>`` is kept (it stands for a real word).
        """
        out = []
        for i in ids:
            i = int(i)
            if strip_special:
                if i == EOS_ID:
                    break
                if i in (PAD_ID, SOS_ID):
                    continue
            out.append(self.token(i))
        return out

    def to_json(self) -> str:
        """The vocabulary as a JSON string (see ``from_json``)."""
        return json.dumps({"format": _FORMAT, "version": 1, "min_freq": self.min_freq,
                           "max_size": self.max_size, "tokens": self._itos},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> Vocab:
        """Rebuild a Vocab from ``to_json``'s string (or the dict it encodes)."""
        data = json.loads(text) if isinstance(text, str) else text
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(f"not a serialized {_FORMAT}: expected a JSON object with "
                             f"\"format\": \"{_FORMAT}\"")
        tokens = data["tokens"]
        if list(tokens[:len(SPECIALS)]) != list(SPECIALS):
            raise ValueError(f"serialized vocabulary must start with the specials {SPECIALS}, "
                             f"got {tokens[:len(SPECIALS)]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("serialized vocabulary has duplicate tokens")
        vocab = cls(min_freq=data.get("min_freq", 1), max_size=data.get("max_size"))
        vocab._set_tokens(list(tokens))
        return vocab

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``to_json()`` to ``path`` (UTF-8)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Vocab:
        """Read a vocabulary written by ``save``."""
        with open(path, encoding="utf-8") as f:
            return cls.from_json(f.read())
