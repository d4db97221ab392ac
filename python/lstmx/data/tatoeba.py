"""Loader for Tatoeba sentence pairs in the Anki tab-separated format.

The files of https://www.manythings.org/anki/ (e.g. ``fra.txt`` from ``fra-eng.zip``) hold
one pair per line::

    English sentence <TAB> translation [<TAB> attribution]

    >>> train, valid, test = load_tatoeba("fra.txt", max_len=10, seed=0)
    >>> english, french = train[0]

Texts are NFC-normalized and stripped. Splits are drawn by source sentence, so a source
never appears in two splits even when it has several translations (``dedupe=True`` keeps
only the first translation of each).
"""

from __future__ import annotations

import os
import unicodedata
from typing import Any, NamedTuple

import numpy as np

from .tokenizers import WordTokenizer


class Splits(NamedTuple):
    """Train, validation and test lists of (source, target) string pairs."""

    train: list
    valid: list
    test: list


def read_tatoeba(path: str | os.PathLike[str], reverse: bool = False) -> list[tuple[str, str]]:
    """All (English, translation) pairs of a Tatoeba/Anki file, in file order.

    ``reverse=True`` gives (translation, English). Raises FileNotFoundError for a missing
    file and ValueError naming the line for a malformed one. Blank lines are skipped.
    """
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"Tatoeba file not found: {path}. Download a pair file such as fra-eng.zip from "
            f"https://www.manythings.org/anki/ and unzip it; each line is "
            f"'English<TAB>translation<TAB>attribution'.") from None
    pairs = []
    with f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"{path}, line {number}: not valid UTF-8 ({e.reason} at "
                                 f"byte {e.start})") from None
            line = line.lstrip("\ufeff").rstrip("\r\n")
            if not line.strip():
                continue
            columns = line.split("\t")
            if len(columns) not in (2, 3):
                raise ValueError(
                    f"{path}, line {number}: expected 2 or 3 tab-separated columns (English, "
                    f"translation, optional attribution), got {len(columns)}: {line[:80]!r}")
            src, tgt = (unicodedata.normalize("NFC", c).strip() for c in columns[:2])
            if not src or not tgt:
                side = "English" if not src else "translation"
                raise ValueError(f"{path}, line {number}: empty {side} column: {line[:80]!r}")
            pairs.append((tgt, src) if reverse else (src, tgt))
    return pairs


def _split_size(value, total, name):
    """A count from an int (count) or a float in [0, 1) (fraction of ``total``)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int count or a float fraction, got {value!r}")
    if isinstance(value, (int, np.integer)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
        return int(value)
    if isinstance(value, float) and 0.0 <= value < 1.0:
        return int(round(value * total))
    raise ValueError(f"{name} must be an int count or a float fraction in [0, 1), got {value!r}")


def load_tatoeba(path: str | os.PathLike[str], max_len: int | None = None, seed: int | None = 0,
                 valid_size: int | float = 0.05, test_size: int | float = 0.05,
                 dedupe: bool = False, reverse: bool = False, tokenizer: Any = None) -> Splits:
    """Read, filter and split a Tatoeba/Anki file -> ``Splits(train, valid, test)``.

    ``max_len``: drop pairs with more than this many tokens on either side (counted with
    ``tokenizer``, default ``WordTokenizer()``). ``dedupe``: keep only the first translation
    of each source. ``valid_size``/``test_size``: a count or a fraction of the distinct
    sources; a source's pairs all go to one split, drawn with ``np.random.default_rng(seed)``
    (same seed, same splits). Each split lists its pairs in that shuffled order.
    """
    if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int)
                                or max_len < 1):
        raise ValueError(f"max_len must be None or an int >= 1, got {max_len!r}")
    tokenizer = tokenizer or WordTokenizer()
    groups: dict[str, list[str]] = {}
    for src, tgt in read_tatoeba(path, reverse=reverse):
        if max_len is not None and (len(tokenizer.tokenize(src)) > max_len
                                    or len(tokenizer.tokenize(tgt)) > max_len):
            continue
        targets = groups.setdefault(src, [])
        if not (dedupe and targets):
            targets.append(tgt)
    sources = list(groups)
    n_valid = _split_size(valid_size, len(sources), "valid_size")
    n_test = _split_size(test_size, len(sources), "test_size")
    if n_valid + n_test > len(sources):
        raise ValueError(f"valid_size={valid_size} and test_size={test_size} ask for "
                         f"{n_valid + n_test} sources, but only {len(sources)} remain "
                         f"after filtering")
    order = np.random.default_rng(seed).permutation(len(sources))

    def pairs_of(indices):
        return [(sources[i], t) for i in indices for t in groups[sources[i]]]

    return Splits(train=pairs_of(order[n_test + n_valid:]),
                  valid=pairs_of(order[n_test:n_test + n_valid]),
                  test=pairs_of(order[:n_test]))
