"""Decoding: batched greedy search and batched beam search with length normalisation.

Both take a model with ``encode(src, lengths) -> (memory, init)`` and a ``decoder`` with
``start``/``step`` (see ``Decoder``), run in eval mode, and return one ``Hypothesis`` per
source row. One Python iteration per output step for the whole batch (all beams of all
sentences together, ``B * K`` rows).

A row stops at ``<eos>`` or after ``max_len[b]`` tokens; ``max_len`` is per row so that a
sentence decodes the same alone as in a batch. ``<pad>`` and ``<sos>`` are never produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .. import _core


class Hypothesis(NamedTuple):
    """One decoded sentence: ``ids`` (output token ids, without <eos>), ``score`` (sum of
    log-probabilities, <eos> included), ``normalized`` (score / length**length_penalty),
    ``ended`` (True when <eos> was produced) and ``attention``: (len(ids) + ended, S_b)
    weights over the source's valid positions (None unless asked for)."""

    ids: list
    score: float
    normalized: float
    ended: bool
    attention: np.ndarray | None = None


def _best_tokens(logits, K, pad_id, sos_id):
    """The K most probable tokens of each row of ``logits (R, V)`` and their log-probabilities:
    (ids (R, K) int64, logp (R, K) float64), best first, with <pad> and <sos> at probability 0.

    A beam can only keep its own K best continuations, so the search needs no more of the
    (R, V) log-probabilities. Natively (``_core.best_tokens``) this is, to about 1e-7::

        z = logits.astype(np.float64); z[:, [pad_id, sos_id]] = -np.inf
        logp = z - z.max(1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(1, keepdims=True))
        ids = np.argsort(-logp, axis=1, kind="stable")[:, :K]   # ties: the lower id first
    """
    logits = np.ascontiguousarray(logits, dtype=np.float32)
    return _core.best_tokens(logits, K, [pad_id, sos_id])


def _row_limits(max_len, B):
    """max_len (an int or (B,) ints) as a (B,) int64 array, each at least 1."""
    limits = np.broadcast_to(np.asarray(max_len, dtype=np.int64), (B,)).copy()
    if limits.min() < 1:
        raise ValueError(f"max_len must be at least 1, got {limits.min()}")
    return limits


def greedy_search(model: Any, src: ArrayLike, lengths: Sequence[int] | np.ndarray,
                  max_len: int | ArrayLike, sos_id: int, eos_id: int, pad_id: int = 0,
                  return_attention: bool = False) -> list[Hypothesis]:
    """Feed back the most probable token at every step.

    Args: src ``(S, B)`` int, lengths ``(B,)``, max_len an int or ``(B,)`` ints.
    Returns a list of B Hypothesis (``normalized`` is the mean log-probability per token).
    """
    memory, init = model.encode(src, lengths)
    B = memory.shape[1]
    limits = _row_limits(max_len, B)
    state = model.decoder.start(memory, lengths, init)
    ids = np.full(B, sos_id, dtype=np.int64)
    done = np.zeros(B, bool)
    score = np.zeros(B)
    out: Any = []
    weights: Any = []
    for t in range(int(limits.max())):
        logits, state, w = model.decoder.step(ids, state)
        best, logp = _best_tokens(logits, 1, pad_id, sos_id)
        ids = np.where(done, pad_id, best[:, 0])
        score += np.where(done, 0.0, logp[:, 0])
        out.append(ids)
        if return_attention:
            weights.append(w)
        done |= (ids == eos_id) | (t + 1 >= limits)
        if done.all():
            break
    out = np.stack(out, axis=1)  # (B, steps)
    weights = np.stack(weights, axis=1) if return_attention else None  # (B, steps, S)
    hyps = []
    for b in range(B):
        row = out[b].tolist()
        ended = eos_id in row
        n = row.index(eos_id) if ended else min(len(row), int(limits[b]))
        length = max(n + ended, 1)
        att = weights[b, :n + ended, :lengths[b]] if return_attention else None
        hyps.append(Hypothesis(row[:n], float(score[b]), float(score[b]) / length, ended, att))
    return hyps


def beam_search(model: Any, src: ArrayLike, lengths: ArrayLike, max_len: int | ArrayLike,
                sos_id: int, eos_id: int, pad_id: int = 0, beam_size: int = 5,
                length_penalty: float = 1.0, return_attention: bool = False
                ) -> list[Hypothesis]:
    """Keep the ``beam_size`` most probable prefixes of every sentence.

    A prefix that has produced <eos> stays in its beam with a frozen score (its only
    continuation is padding at no cost), so finished and open prefixes compete on their
    sums of log-probabilities; the search of a sentence stops when all its beams have
    ended (or reached max_len). The answer is the beam with the best
    ``score / length**length_penalty`` (length counts <eos>). With beam_size=1 this is
    greedy search.

    Args: src ``(S, B)`` int, lengths ``(B,)``, max_len int or ``(B,)``.
    Returns a list of B Hypothesis.
    """
    memory, init = model.encode(src, lengths)
    S, B = memory.shape[0], memory.shape[1]
    V = model.decoder.vocab_size
    K = int(beam_size)
    if K < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size!r}")
    K = min(K, V)
    limits = _row_limits(max_len, B)
    lengths = np.asarray(lengths)
    rep = np.repeat(np.arange(B), K)  # row b*K + k belongs to sentence b
    h0, c0 = init
    state = model.decoder.start(np.ascontiguousarray(memory[:, rep]), lengths[rep],
                                (h0[:, rep], None if c0 is None else c0[:, rep]))
    scores = np.full((B, K), -np.inf)
    scores[:, 0] = 0.0  # the K beams start identical: keep one
    done = np.zeros((B, K), bool)
    steps = np.zeros((B, K), np.int64)  # tokens produced, <eos> included
    hist = np.zeros((B, K, 0), np.int64)
    att: Any = np.zeros((B, K, 0, S)) if return_attention else None
    ids = np.full(B * K, sos_id, dtype=np.int64)
    base = np.arange(B)[:, None]
    for t in range(int(limits.max())):
        logits, state, w = model.decoder.step(ids, state)
        # each beam's K best continuations (a finished beam's only one is <pad>, at no cost),
        # as flat indices k * V + token into the sentence's K * V candidates
        tok_k, logp = _best_tokens(logits, K, pad_id, sos_id)
        tok_k, logp = tok_k.reshape(B, K, K), logp.reshape(B, K, K)
        tok_k[done], logp[done] = pad_id, -np.inf
        logp[done, 0] = 0.0
        flat = (np.arange(K)[None, :, None] * V + tok_k).reshape(B, K * K)
        cand = (scores[:, :, None] + logp).reshape(B, K * K)
        pick = np.argpartition(-cand, K - 1, axis=1)[:, :K] if K < K * K else \
            np.broadcast_to(np.arange(K * K), (B, K * K))
        top = np.take_along_axis(flat, pick, axis=1)
        val = np.take_along_axis(cand, pick, axis=1)
        order = np.lexsort((top, -val), axis=1)  # best first; ties: lower index first
        top = np.take_along_axis(top, order, axis=1)
        parent, tok = top // V, top % V
        scores = np.take_along_axis(val, order, axis=1)
        was_done = done[base, parent]
        done = was_done | (tok == eos_id) | (t + 1 >= limits[:, None])
        steps = steps[base, parent] + ~was_done
        hist = np.concatenate([hist[base, parent], tok[:, :, None]], axis=2)
        if return_attention:
            w = w.reshape(B, K, 1, S)[base, parent]
            att = np.concatenate([att[base, parent], w], axis=2)
        state = state.select((base * K + parent).reshape(-1))
        ids = tok.reshape(-1)
        if done.all():
            break
    normalized = scores / np.maximum(steps, 1) ** float(length_penalty)
    best = normalized.argmax(axis=1)
    hyps = []
    for b in range(B):
        k = best[b]
        row = hist[b, k].tolist()
        ended = eos_id in row
        n = row.index(eos_id) if ended else int(steps[b, k])
        a = att[b, k, :n + ended, :lengths[b]].astype(memory.dtype) if return_attention else None
        hyps.append(Hypothesis(row[:n], float(scores[b, k]), float(normalized[b, k]), ended, a))
    return hyps
