"""Fixed-length windows over one long text, in the order truncated BPTT needs.

The id stream is cut into ``batch_size`` contiguous rows (row b holds characters
``b·n .. b·n + n``), laid out time-major ``(n, B)``. Window k holds steps
``k·T .. k·T + T`` of every row, so window k+1 continues exactly where window k stopped in
each row: a model may start window k+1 from the state window k ended in, and back-propagate
only within the window (truncated BPTT). ``reset`` is True on the first window, where the
state starts from zeros::

    text      a b c d e f g h i j k l m n o p q r s t u v w x       (N = 24, B = 2, T = 4)
    row 0     a b c d e f g h i j k         n = (N - 1) // B = 11 steps per row
    row 1     l m n o p q r s t u v
    windows   row 0: abcd | efgh | ijk      row 1: lmno | pqrs | tuv
    targets   the next character of each input (row 0, window 0: bcde)
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike

from ..checks import positive_int

Window = namedtuple("Window", ["ids", "targets", "reset"])
Window.__doc__ = """One truncated-BPTT window: ``ids`` and ``targets`` int64 ``(T, B)`` (targets are
the next characters), ``reset`` True when the recurrent state must start from zeros."""


class BPTTBatches:
    """The windows of one pass over ``ids`` (re-iterable; ``len()`` is the window count).

    Args:
        ids: int array (N,), the encoded text (``CharVocab.encode``).
        batch_size (B): number of contiguous streams read side by side.
        seq_len (T): steps per window (the last window of a pass may be shorter).
        offset: skip the first ``offset`` ids, e.g. a different offset per epoch so that
            window boundaries fall on other characters.

    Every character of ``ids[offset:]`` except the last ``(N - offset - 1) % B`` is read as
    an input once per pass (and every one after it as a target).

    Example::

        >>> batches = BPTTBatches(np.arange(25), batch_size=2, seq_len=4)
        >>> [w.ids.shape for w in batches]
        [(4, 2), (4, 2), (4, 2)]
        >>> first = next(iter(batches))
        >>> first.ids[:, 0], first.targets[:, 0], first.reset
        (array([0, 1, 2, 3]), array([1, 2, 3, 4]), True)
    """

    def __init__(self, ids: ArrayLike, batch_size: int, seq_len: int, offset: int = 0) -> None:
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise TypeError(f"ids must be a 1-D integer array, got {ids.dtype} "
                            f"with shape {ids.shape}")
        for name, v in (("batch_size", batch_size), ("seq_len", seq_len)):
            positive_int(v, name)
        if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
            raise ValueError(f"offset must be a non-negative integer, got {offset!r}")
        ids = ids[offset:]
        n = (len(ids) - 1) // batch_size  # steps per row; each input needs a next character
        if n < 1:
            raise ValueError(f"{len(ids)} characters (after offset={offset}) are too few for "
                             f"batch_size={batch_size}: each of the {batch_size} rows needs at "
                             "least 2")
        rows = np.arange(batch_size) * n
        steps = np.arange(n)[:, None]
        self.inputs = ids[steps + rows].astype(np.int64)        # (n, B)
        self.targets = ids[steps + rows + 1].astype(np.int64)   # (n, B)
        self.batch_size = int(batch_size)
        self.seq_len = int(seq_len)

    @property
    def num_tokens(self) -> int:
        """Predicted characters per pass: ``n · B``."""
        return self.inputs.size

    def shard(self, rank: int, size: int) -> BPTTBatches:
        """Rank ``rank``'s part when ``size`` processes train on these windows together
        (``lstmx.distributed``): rows ``rank, rank + size, ...`` of every window, so the
        ranks' parts of window k together are window k and each rank carries the state of
        its own rows from window to window. Every part has the windows of the whole (none
        at all when ``rank >= B``, for validation)."""
        if not 0 <= rank < size:
            raise ValueError(f"rank must lie in [0, {size}), got {rank}")
        part = object.__new__(BPTTBatches)
        part.inputs = np.ascontiguousarray(self.inputs[:, rank::size])
        part.targets = np.ascontiguousarray(self.targets[:, rank::size])
        part.batch_size = int(part.inputs.shape[1])
        part.seq_len = self.seq_len
        return part

    def __len__(self) -> int:
        if self.inputs.shape[1] == 0:
            return 0
        return -(-self.inputs.shape[0] // self.seq_len)

    def __iter__(self) -> Iterator[Window]:
        T = self.seq_len
        for start in range(0, self.inputs.shape[0] if self.inputs.shape[1] else 0, T):
            yield Window(self.inputs[start:start + T], self.targets[start:start + T], start == 0)

    def __repr__(self):
        return (f"BPTTBatches({len(self)} windows of (T={self.seq_len}, B={self.batch_size}), "
                f"{self.num_tokens} characters)")
