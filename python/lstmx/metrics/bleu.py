"""BLEU (Papineni et al., 2002) with the settings and numbers of sacreBLEU 2.x.

    >>> from lstmx.metrics import corpus_bleu, sentence_bleu
    >>> hyps = ["the cat sat on the mat", "a dog barked"]
    >>> refs = [["the cat sat on a mat", "a dog barked loudly"]]     # one reference stream
    >>> bleu = corpus_bleu(hyps, refs)
    >>> print(bleu)
    BLEU = 53.42 88.9/71.4/60.0/33.3 (BP = 0.895 ratio = 0.900 hyp_len = 9 ref_len = 10)
    >>> bleu.signature
    'nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:lstmx-0.1.0'
    >>> round(sentence_bleu("a dog barked", ["a dog barked loudly"]).score, 2)
    71.65

References come as sacreBLEU takes them: a list of reference *streams*, each a list of str as
long as ``hypotheses``; ``references[k][i]`` is the k-th reference of ``hypotheses[i]``. With
one reference per sentence that is ``[refs]``; a per-sentence list of references
``[[r1a, r1b], [r2a, r2b], ...]`` becomes streams with ``list(zip(*per_sentence))``. An entry
may be None where a sentence has fewer references than others (the signature then says
``nrefs:var``), but every sentence needs at least one.

The computation, for n-gram orders n = 1..4 over the tokenized, optionally lowercased segments:

    counts[n]  = sum over sentences of the hypothesis n-grams found in a reference, each n-gram
                 clipped to its largest count in any one reference of that sentence
    totals[n]  = sum over sentences of the hypothesis n-grams
    p_n        = 100 * counts[n] / totals[n]            (percent; smoothing below)
    sys_len    = hypothesis tokens; ref_len = for each sentence, the reference length closest
                 to its hypothesis length (ties go to the shorter reference), summed
    bp         = 1 if sys_len >= ref_len, else exp(1 - ref_len / sys_len) (0 if sys_len == 0)
    score      = bp * exp(mean over the used orders of log p_n)

With no matched unigram at all the score is 0 and every precision is 0. The mean runs over all 4
orders, or, with effective order, over the orders up to the last one whose total is not 0 (so a
two-word sentence is scored on its unigrams and bigrams); a used precision of 0 makes the score
0. Smoothing (Chen and Cherry, 2014) changes the precisions:

    "exp"    (default) the k-th order with no match, counting up, gets p_n = 100 / (2^k totals[n])
             (mteval-v13a's method)
    "floor"  an order with no match gets p_n = 100 * smooth_value / totals[n] (default 0.1)
    "add-k"  orders n >= 2 get p_n = 100 * (counts[n] + k) / (totals[n] + k), k = smooth_value
             (default 1); as k > 0 makes no total 0, effective order then uses all 4 orders
    "none"   as is

``counts`` and ``totals`` in the result are always the raw counts (sacreBLEU's own result object
carries them with add-k's k already added for orders 2..4; its precisions and score are the same).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from .tokenizers import TOKENIZERS

MAX_ORDER = 4
"""Highest n-gram order BLEU counts."""

SMOOTH_DEFAULTS = {"exp": None, "floor": 0.1, "add-k": 1, "none": None}
"""Smoothing method name to its default ``smooth_value`` (None: the method takes no value)."""


@dataclass(frozen=True)
class BLEUScore:
    """A BLEU result and everything needed to check or reproduce it.

    Fields: ``score`` (float, 0..100), ``counts`` and ``totals`` (tuples of 4 ints: matched and
    hypothesis n-grams of orders 1..4, raw), ``precisions`` (tuple of 4 floats, percent, smoothed
    as the score used them; 0.0 for orders past a zero total), ``bp`` (brevity penalty, 0..1),
    ``sys_len`` and ``ref_len`` (tokens), ``signature`` (str).

    The signature lists the settings as ``key:value`` pairs joined by ``|``, in this order:
    ``nrefs`` (references per sentence, or ``var``), ``case`` (``mixed`` or ``lc``), ``eff``
    (effective order: ``yes``/``no``), ``tok`` (``13a``, ``char`` or ``none``), ``smooth``
    (``exp``, ``none``, ``floor[0.10]``, ``add-k[1.00]``: the value with two decimals) and
    ``version`` (``lstmx-<version>``). It reads like sacreBLEU's, except for the version.

    ``str(score)`` is sacreBLEU's line:
    ``BLEU = 34.21 65.0/40.1/27.3/18.9 (BP = 1.000 ratio = 1.012 hyp_len = 85 ref_len = 84)``.
    """

    score: float
    counts: tuple[int, ...]
    totals: tuple[int, ...]
    precisions: tuple[float, ...]
    bp: float
    sys_len: int
    ref_len: int
    signature: str

    @property
    def ratio(self) -> float:
        """``sys_len / ref_len`` (0.0 when ``ref_len`` is 0)."""
        return self.sys_len / self.ref_len if self.ref_len else 0.0

    def __str__(self) -> str:
        precisions = "/".join(f"{p:.1f}" for p in self.precisions)
        return (f"BLEU = {self.score:.2f} {precisions} (BP = {self.bp:.3f} "
                f"ratio = {self.ratio:.3f} hyp_len = {self.sys_len:d} "
                f"ref_len = {self.ref_len:d})")


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str | None]], *,
                tokenize: str = "13a", lowercase: bool = False, smooth_method: str = "exp",
                smooth_value: float | None = None,
                use_effective_order: bool = False) -> BLEUScore:
    """Corpus BLEU of ``hypotheses`` against reference streams, as sacreBLEU's ``corpus_bleu``.

    hypotheses: list of str, one per sentence (N of them; N may be 0, which scores 0).
    references: list of K >= 1 reference streams, each a list of N str (or None where that
        sentence lacks a K-th reference): ``references[k][i]`` is a reference of
        ``hypotheses[i]``. One reference per sentence: ``[refs]``.
    tokenize: ``"13a"`` (mteval-v13a, the default), ``"char"`` or ``"none"``.
    lowercase: lowercase hypotheses and references before tokenizing.
    smooth_method: ``"exp"`` (default), ``"floor"``, ``"add-k"`` or ``"none"``.
    smooth_value: for ``"floor"`` (default 0.1) and ``"add-k"`` (default 1); a number >= 0.
        Refused for ``"exp"`` and ``"none"``, which take no value.
    use_effective_order: average only over the orders up to the last with a nonzero total.

    Returns a :class:`BLEUScore`. Raises TypeError/ValueError naming the offending argument,
    stream or index before any scoring starts.

        >>> corpus_bleu(["the cat"], [["the cat"]]).score          # no 3- or 4-grams
        0.0
        >>> round(corpus_bleu(["the cat"], [["the cat"]], use_effective_order=True).score, 9)
        100.0
    """
    tokenizer, smooth_value = _check_options(tokenize, lowercase, smooth_method, smooth_value,
                                             use_effective_order)
    _check_hypotheses(hypotheses)
    per_sentence = _reference_sets(references, len(hypotheses))
    return _score(hypotheses, per_sentence, len(references), tokenizer, tokenize, lowercase,
                  smooth_method, smooth_value, use_effective_order)


def sentence_bleu(hypothesis: str, references: Sequence[str | None], *, tokenize: str = "13a",
                  lowercase: bool = False, smooth_method: str = "exp",
                  smooth_value: float | None = None,
                  use_effective_order: bool = True) -> BLEUScore:
    """BLEU of one sentence, as sacreBLEU's ``sentence_bleu`` (effective order on by default).

    hypothesis: str. references: list of K >= 1 str (its references; None entries are skipped).
    The options are those of :func:`corpus_bleu`. Returns a :class:`BLEUScore`.

        >>> round(sentence_bleu("the cat", ["the cat", "a cat"]).score, 9)
        100.0
    """
    tokenizer, smooth_value = _check_options(tokenize, lowercase, smooth_method, smooth_value,
                                             use_effective_order)
    if not isinstance(hypothesis, str):
        raise TypeError(f"hypothesis must be a str, got {type(hypothesis).__name__}")
    if isinstance(references, str):
        raise TypeError("references must be a list of str (the sentence's references), got a "
                        "str; for one reference pass [reference]")
    if not isinstance(references, (list, tuple)):
        raise TypeError(f"references must be a list of str, got {type(references).__name__}")
    for k, ref in enumerate(references):
        if ref is not None and not isinstance(ref, str):
            raise TypeError(f"references[{k}] is {type(ref).__name__}, expected str")
    present = [ref for ref in references if ref is not None]
    if not present:
        raise ValueError("references holds no reference: give at least one str")
    return _score([hypothesis], [present], len(present), tokenizer, tokenize, lowercase,
                  smooth_method, smooth_value, use_effective_order)


def _check_options(tokenize, lowercase, smooth_method, smooth_value, use_effective_order):
    """The tokenizer function and the smoothing value to use, or a clear error."""
    if tokenize not in TOKENIZERS:
        raise ValueError(f"unknown tokenize={tokenize!r}; choose one of "
                         f"{', '.join(map(repr, TOKENIZERS))}")
    if smooth_method not in SMOOTH_DEFAULTS:
        raise ValueError(f"unknown smooth_method={smooth_method!r}; choose one of "
                         f"{', '.join(map(repr, SMOOTH_DEFAULTS))}")
    for name, flag in (("lowercase", lowercase), ("use_effective_order", use_effective_order)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    default = SMOOTH_DEFAULTS[smooth_method]
    if smooth_value is None:
        return TOKENIZERS[tokenize], default
    if default is None:
        raise ValueError(f"smooth_method={smooth_method!r} takes no smooth_value (got "
                         f"{smooth_value!r}); only 'floor' and 'add-k' use one")
    if isinstance(smooth_value, bool) or not isinstance(smooth_value, (int, float)):
        raise TypeError(f"smooth_value must be a number, got {type(smooth_value).__name__}")
    if not (math.isfinite(smooth_value) and smooth_value >= 0):
        raise ValueError(f"smooth_value must be finite and >= 0, got {smooth_value!r}")
    return TOKENIZERS[tokenize], smooth_value


def _check_hypotheses(hypotheses):
    if isinstance(hypotheses, str):
        raise TypeError("hypotheses must be a list of str (one per sentence), got a str; "
                        "for one sentence pass [hypothesis] or use sentence_bleu")
    if not isinstance(hypotheses, (list, tuple)):
        raise TypeError(f"hypotheses must be a list of str, got {type(hypotheses).__name__}")
    for i, hyp in enumerate(hypotheses):
        if not isinstance(hyp, str):
            raise TypeError(f"hypotheses[{i}] is {type(hyp).__name__}, expected str")


def _reference_sets(references, n_sentences):
    """Check the reference streams; return, per sentence, the list of its references."""
    layout = ("references must be a list of reference streams, references[k][i] being a "
              "reference of hypotheses[i]: [refs] for one reference per sentence")
    if isinstance(references, str) or not isinstance(references, (list, tuple)):
        raise TypeError(f"{layout}; got {type(references).__name__}")
    if not references:
        raise ValueError(f"{layout}; got no stream")
    for k, stream in enumerate(references):
        if isinstance(stream, str) or not isinstance(stream, (list, tuple)):
            raise TypeError(f"references[{k}] is a {type(stream).__name__}, expected a list of "
                            f"{n_sentences} str; {layout}")
        if len(stream) != n_sentences:
            raise ValueError(
                f"reference stream references[{k}] has {len(stream)} sentences but hypotheses "
                f"has {n_sentences}; {layout} (transpose per-sentence lists with "
                f"list(zip(*refs)))")
        for i, ref in enumerate(stream):
            if ref is not None and not isinstance(ref, str):
                raise TypeError(f"references[{k}][{i}] is {type(ref).__name__}, expected str "
                                f"(or None where sentence {i} has no such reference)")
    per_sentence = [[ref for ref in refs if ref is not None] for refs in zip(*references)]
    for i, refs in enumerate(per_sentence):
        if not refs:
            raise ValueError(f"hypotheses[{i}] has no reference: references[k][{i}] is None "
                             f"in every stream")
    return per_sentence


def _score(hypotheses, per_sentence, n_streams, tokenizer, tokenize, lowercase,
           smooth_method, smooth_value, use_effective_order):
    """Sum the sentence statistics, compute BLEU and its signature."""
    def tokens(text):
        # sacreBLEU's order: lowercase, strip trailing whitespace, tokenize.
        return tokenizer((text.lower() if lowercase else text).rstrip())

    sys_len = ref_len = 0
    counts = [0] * MAX_ORDER
    totals = [0] * MAX_ORDER
    for hyp, refs in zip(hypotheses, per_sentence):
        hyp_tokens = tokens(hyp)
        ref_tokens = [tokens(ref) for ref in refs]
        sys_len += len(hyp_tokens)
        ref_len += _closest_length(len(hyp_tokens), [len(r) for r in ref_tokens])
        _add_matches(hyp_tokens, ref_tokens, counts, totals)

    score, precisions, bp = _bleu_from_counts(counts, totals, sys_len, ref_len, smooth_method,
                                              smooth_value, use_effective_order)
    n_refs = {len(refs) for refs in per_sentence}
    nrefs = n_refs.pop() if len(n_refs) == 1 else ("var" if n_refs else n_streams)
    return BLEUScore(score=score, counts=tuple(counts), totals=tuple(totals),
                     precisions=tuple(precisions), bp=bp, sys_len=sys_len, ref_len=ref_len,
                     signature=_signature(nrefs, lowercase, use_effective_order, tokenize,
                                          smooth_method, smooth_value))


def _ngrams(tokens):
    """Counter of the n-grams (tuples) of orders 1..MAX_ORDER in ``tokens``."""
    return Counter(tuple(tokens[i:i + n])
                   for n in range(1, MAX_ORDER + 1) for i in range(len(tokens) - n + 1))


def _add_matches(hyp_tokens, ref_tokens, counts, totals):
    """Add one sentence's clipped matches and n-gram totals per order (in place)."""
    # Each n-gram may match as often as it occurs in the reference that has it most.
    allowed = Counter()
    for tokens in ref_tokens:
        for ngram, count in _ngrams(tokens).items():
            allowed[ngram] = max(allowed[ngram], count)
    for ngram, count in _ngrams(hyp_tokens).items():
        order = len(ngram) - 1
        totals[order] += count
        counts[order] += min(count, allowed[ngram])


def _closest_length(hyp_len, ref_lens):
    """The reference length closest to ``hyp_len``; of two equally close, the shorter."""
    return min(ref_lens, key=lambda length: (abs(hyp_len - length), length))


def _bleu_from_counts(counts, totals, sys_len, ref_len, smooth_method, smooth_value,
                      effective_order):
    """(score, precisions, bp) from the corpus statistics; see the module docstring."""
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    precisions = [0.0] * MAX_ORDER
    if not any(counts):
        return 0.0, precisions, bp

    used = MAX_ORDER
    unmatched_orders = 0      # "exp": the k-th unmatched order is divided by 2^k
    for n in range(MAX_ORDER):
        matched, total = counts[n], totals[n]
        if smooth_method == "add-k" and n > 0:
            matched, total = matched + smooth_value, total + smooth_value
        if total == 0:
            break
        if effective_order:
            used = n + 1
        if matched == 0:
            if smooth_method == "exp":
                unmatched_orders += 1
                precisions[n] = 100.0 / (2.0 ** unmatched_orders * total)
            elif smooth_method == "floor":
                precisions[n] = 100.0 * smooth_value / total
        else:
            precisions[n] = 100.0 * matched / total

    if any(p == 0 for p in precisions[:used]):
        return 0.0, precisions, bp
    return bp * math.exp(sum(math.log(p) for p in precisions[:used]) / used), precisions, bp


def _signature(nrefs, lowercase, effective_order, tokenize, smooth_method, smooth_value):
    """``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:lstmx-0.1.0`` (see BLEUScore)."""
    from .. import __version__    # at call time: lstmx may import metrics while initialising

    smooth = smooth_method
    if SMOOTH_DEFAULTS[smooth_method] is not None:
        smooth += f"[{smooth_value:.2f}]"
    return (f"nrefs:{nrefs}|case:{'lc' if lowercase else 'mixed'}|"
            f"eff:{'yes' if effective_order else 'no'}|tok:{tokenize}|smooth:{smooth}|"
            f"version:lstmx-{__version__}")
