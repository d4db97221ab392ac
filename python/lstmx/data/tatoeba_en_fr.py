"""The built-in English–French corpus: a processed subset of the Tatoeba pairs, shipped with
lstmx (``corpora/tatoeba_en_fr.tsv.xz``, CC-BY 2.0, see ``corpora/ATTRIBUTION.md``).

    >>> train, valid, test = tatoeba_en_fr()
    >>> train[0]                                    # doctest: +SKIP
    ('Go.', 'Va !')

The splits are deterministic for a seed and disjoint by source sentence: all translations of
one English sentence fall in the same split, so no test source is seen in training.

``python -m lstmx.data.tatoeba_en_fr SOURCE OUT`` rebuilds the shipped file from a
manythings.org ``fra.txt`` (``build_subset``).
"""

from __future__ import annotations

import lzma
import sys
import unicodedata
from importlib import resources

import numpy as np

from ..checks import positive_int

Pair = tuple[str, str]

#: pairs with more words than this on either side are left out of the shipped subset
MAX_WORDS = 14


def build_subset(source: str, out: str, max_words: int = MAX_WORDS) -> int:
    """Write the shipped corpus file ``out`` (xz) from a manythings.org/Tatoeba pair file
    ``source``: the first two tab-separated fields, NFC-normalized and stripped, pairs with
    more than ``max_words`` words on either side and exact duplicates dropped. Returns the
    number of pairs written."""
    pairs: list[Pair] = []
    seen: set[Pair] = set()
    with open(source, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 2:
                continue
            en, fr = (unicodedata.normalize("NFC", t).strip() for t in fields[:2])
            if not en or not fr or max(len(en.split()), len(fr.split())) > max_words:
                continue
            if (en, fr) not in seen:
                seen.add((en, fr))
                pairs.append((en, fr))
    data = "".join(f"{en}\t{fr}\n" for en, fr in pairs).encode("utf-8")
    with open(out, "wb") as f:
        f.write(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    return len(pairs)


def corpus_pairs() -> list[Pair]:
    """Every (English, French) pair of the shipped corpus, in file order."""
    data = resources.files("lstmx.data").joinpath("corpora/tatoeba_en_fr.tsv.xz").read_bytes()
    lines = lzma.decompress(data).decode("utf-8").splitlines()
    return [(en, fr) for en, fr in (line.split("\t") for line in lines)]


def tatoeba_en_fr(n_valid: int = 1000, n_test: int = 1000, seed: int = 0
                  ) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """(train, valid, test) lists of (English, French) pairs from the shipped corpus.

    ``n_valid`` and ``n_test`` count distinct English sentences (each brings all its
    translations). The sources are shuffled with ``seed``; the split is the same for the same
    seed on every machine, and a source sentence belongs to exactly one split."""
    for name, n in (("n_valid", n_valid), ("n_test", n_test)):
        positive_int(n, name)
    pairs = corpus_pairs()
    sources = sorted({en for en, _ in pairs})
    if n_valid + n_test >= len(sources):
        raise ValueError(f"n_valid + n_test = {n_valid + n_test} leaves no training sentences "
                         f"(the corpus has {len(sources)} distinct sources)")
    order = np.random.default_rng(seed).permutation(len(sources))
    split = {}
    for rank, i in enumerate(order):
        split[sources[i]] = 2 if rank < n_test else 1 if rank < n_test + n_valid else 0
    out: tuple[list[Pair], list[Pair], list[Pair]] = ([], [], [])
    for pair in pairs:
        out[split[pair[0]]].append(pair)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m lstmx.data.tatoeba_en_fr SOURCE OUT")
    print(f"wrote {build_subset(sys.argv[1], sys.argv[2])} pairs to {sys.argv[2]}")
