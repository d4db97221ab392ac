"""Padding and length-bucketed batching of id sequences, time-major.

    >>> ids, lengths = pad_batch([[5, 6, 7], [8]], pad_id=0)
    >>> ids                      # (T, B) int64
    array([[5, 8],
           [6, 0],
           [7, 0]])
    >>> lengths_to_mask(lengths) # (T, B) bool
    array([[ True,  True],
           [ True, False],
           [ True, False]])

``bucket_batches`` groups examples of similar length so little compute goes to padding:
indices are shuffled (by ``seed``), cut into pools of ``batch_size * pool_factor``, each pool
sorted by length and cut into batches, and the batches shuffled. ``seq2seq_batches`` builds
batches for an encoder-decoder from (source ids, target ids) pairs; a ``Seq2SeqBatch`` is the
tuple ``((src, src_lengths, tgt_in), tgt_out, tgt_mask)`` of the Trainer's batch protocol.
For a fresh order every epoch pass ``lambda epoch: seq2seq_batches(pairs, 64, seed=epoch)``.
``ShardedSeq2SeqBatches`` holds the same batches and splits each by rows across MPI ranks
(data-parallel training, ``lstmx.distributed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from .vocab import EOS_ID, PAD_ID, SOS_ID


def pad_batch(seqs: Iterable[Sequence[int]], pad_id: int = PAD_ID
              ) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of ids -> ``(ids (T, B) int64, lengths (B,) int64)``, T = longest length.

    Every sequence must hold at least one id (recurrent layers need a first step).
    """
    seqs = list(seqs)
    if not seqs:
        raise ValueError("pad_batch needs at least one sequence")
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise ValueError(f"seqs[{empty[0]}] is empty; every sequence needs at least one id")
    ids = np.full((int(lengths.max()), len(seqs)), pad_id, dtype=np.int64)
    for b, s in enumerate(seqs):
        ids[:len(s), b] = s
    return ids, lengths


def lengths_to_mask(lengths: ArrayLike, max_len: int | None = None) -> np.ndarray:
    """``lengths`` (B,) -> mask (T, B) bool, True at the valid steps t < lengths[b].

    T is ``max_len`` or, when None, the longest length.
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or lengths.dtype.kind not in "iu":
        raise ValueError(f"lengths must be a 1-d integer array (B,), got shape {lengths.shape} "
                         f"dtype {lengths.dtype}")
    steps = int(lengths.max(initial=0)) if max_len is None else int(max_len)
    if lengths.size and lengths.max() > steps:
        raise ValueError(f"max_len={steps} is below the longest length {lengths.max()}")
    return np.arange(steps)[:, None] < lengths[None, :]


def bucket_batches(lengths: ArrayLike, batch_size: int, seed: int | None = 0,
                   shuffle: bool = True, pool_factor: int = 50,
                   drop_last: bool = False) -> list[np.ndarray]:
    """Indices of examples grouped into batches of similar length: a list of int64 arrays.

    ``lengths`` (N,): a sort key per example (usually its length). With ``shuffle`` the
    examples are permuted and the batches' order shuffled with ``np.random.default_rng(seed)``
    (same seed, same batches); without, pools are taken in order and batches stay in order.
    Each pool of ``batch_size * pool_factor`` examples is sorted by length (stable) before
    being cut. Every example lands in exactly one batch, unless ``drop_last`` drops the one
    short batch.
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be 1-d (N,), got shape {lengths.shape}")
    for name, value in (("batch_size", batch_size), ("pool_factor", pool_factor)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths)) if shuffle else np.arange(len(lengths))
    pool = batch_size * pool_factor
    batches: list[np.ndarray] = []
    for p in range(0, len(order), pool):
        chunk = order[p:p + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    if drop_last and batches and len(batches[-1]) < batch_size:
        batches.pop()
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class Seq2SeqBatch(NamedTuple):
    """One encoder-decoder batch, as the Trainer's ``(inputs, targets, mask)``.

    ``inputs`` = ``(src (S, B) int64, src_lengths (B,) int64, tgt_in (T, B) int64)``;
    ``targets`` = ``tgt_out (T, B) int64``; ``mask`` = ``tgt_mask (T, B) bool``. Target
    row ``b`` holds ``<sos> y`` in ``tgt_in`` and ``y <eos>`` in ``tgt_out``, then padding.
    """

    inputs: tuple
    targets: np.ndarray
    mask: np.ndarray

    @property
    def src(self) -> np.ndarray:
        """Source ids (S, B) int64."""
        return self.inputs[0]

    @property
    def src_lengths(self) -> np.ndarray:
        """Source lengths (B,) int64."""
        return self.inputs[1]

    @property
    def tgt_in(self) -> np.ndarray:
        """Decoder inputs ``<sos> y`` (T, B) int64."""
        return self.inputs[2]

    @property
    def tgt_out(self) -> np.ndarray:
        """Decoder targets ``y <eos>`` (T, B) int64."""
        return self.targets

    @property
    def tgt_mask(self) -> np.ndarray:
        """Valid target steps (T, B) bool."""
        return self.mask

    @property
    def tgt_lengths(self) -> np.ndarray:
        """Target lengths ``len(y) + 1`` (B,) int64."""
        return self.mask.sum(axis=0)

    @property
    def num_tokens(self) -> int:
        """Number of real target tokens (``<eos>`` included)."""
        return int(self.mask.sum())


def make_seq2seq_batch(src_seqs: Iterable[Sequence[int]], tgt_seqs: Iterable[Sequence[int]],
                       pad_id: int = PAD_ID, sos_id: int = SOS_ID,
                       eos_id: int = EOS_ID) -> Seq2SeqBatch:
    """Source and target id sequences (without specials) -> ``Seq2SeqBatch``."""
    src_seqs, tgt_seqs = list(src_seqs), list(tgt_seqs)
    if len(src_seqs) != len(tgt_seqs):
        raise ValueError(f"{len(src_seqs)} source sequences but {len(tgt_seqs)} targets")
    src, src_lengths = pad_batch(src_seqs, pad_id)
    tgt_in, tgt_lengths = pad_batch([[sos_id, *y] for y in tgt_seqs], pad_id)
    tgt_out, _ = pad_batch([[*y, eos_id] for y in tgt_seqs], pad_id)
    return Seq2SeqBatch((src, src_lengths, tgt_in), tgt_out, lengths_to_mask(tgt_lengths))


def _pair_lengths(pairs):
    """(source lengths, target lengths, bucketing key: source length, then target length)."""
    src_len = np.array([len(s) for s, _ in pairs], dtype=np.int64)
    tgt_len = np.array([len(t) for _, t in pairs], dtype=np.int64)
    return src_len, tgt_len, src_len * (int(tgt_len.max()) + 1) + tgt_len


def seq2seq_batches(pairs: Iterable[tuple[Sequence[int], Sequence[int]]], batch_size: int,
                    seed: int | None = 0, shuffle: bool = True, pool_factor: int = 50,
                    drop_last: bool = False, pad_id: int = PAD_ID, sos_id: int = SOS_ID,
                    eos_id: int = EOS_ID) -> list[Seq2SeqBatch]:
    """(source ids, target ids) pairs -> list of ``Seq2SeqBatch``, bucketed by source length
    (then target length) as in ``bucket_batches``."""
    pairs = list(pairs)
    if not pairs:
        return []
    key = _pair_lengths(pairs)[2]
    return [make_seq2seq_batch([pairs[i][0] for i in idx], [pairs[i][1] for i in idx],
                               pad_id, sos_id, eos_id)
            for idx in bucket_batches(key, batch_size, seed, shuffle, pool_factor, drop_last)]


class ShardedSeq2SeqBatches:
    """The batches of ``seq2seq_batches(pairs, batch_size, ...)`` (same arguments, same
    batches in the same order), which data-parallel training splits by rows: rank r of N
    takes, from each batch, the rows r, r + N, r + 2N, ... of the batch sorted by (source,
    target) length (``shard(r, N)``; ``lstmx.train.Trainer`` calls it under MPI).

    The N parts of a batch then have nearly the same padded lengths, so the ranks finish
    their forward and backward passes together; whole batches dealt to the ranks by index
    would not: bucketed batches differ in length from one to the next, and on the Tatoeba
    demo the ranks would wait for the slowest one about a fifth of every step with 2 ranks,
    about half with 16 (a cost model, ``benchmarks/bench_distributed.py``), against 2 % and
    8 % with the rows dealt. Iterating yields the whole batches (one process)."""

    def __init__(self, pairs: Iterable[tuple[Sequence[int], Sequence[int]]], batch_size: int,
                 seed: int | None = 0, shuffle: bool = True, pool_factor: int = 50,
                 drop_last: bool = False, pad_id: int = PAD_ID, sos_id: int = SOS_ID,
                 eos_id: int = EOS_ID) -> None:
        self.pairs = list(pairs)
        self.specials = (pad_id, sos_id, eos_id)
        if self.pairs:
            self._src_len, self._tgt_len, key = _pair_lengths(self.pairs)
            self._groups = bucket_batches(key, batch_size, seed, shuffle, pool_factor,
                                          drop_last)
        else:
            self._groups = []

    def __len__(self) -> int:
        return len(self._groups)

    def _batch(self, idx: np.ndarray) -> Seq2SeqBatch:
        return make_seq2seq_batch([self.pairs[i][0] for i in idx],
                                  [self.pairs[i][1] for i in idx], *self.specials)

    def __iter__(self):
        return (self._batch(idx) for idx in self._groups)

    def shard(self, rank: int, size: int) -> list[Seq2SeqBatch | None]:
        """Rank ``rank``'s part of every batch (of ``size`` ranks): one entry per batch, None
        where a batch has fewer than ``rank + 1`` rows."""
        if not 0 <= rank < size:
            raise ValueError(f"rank must lie in [0, {size}), got {rank}")
        parts: list[Seq2SeqBatch | None] = []
        for idx in self._groups:
            ordered = idx[np.lexsort((self._tgt_len[idx], self._src_len[idx]))]
            mine = ordered[rank::size]
            parts.append(self._batch(mine) if mine.size else None)
        return parts
