"""An epoch's batches that stop coming once a wall-clock deadline has passed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Protocol


class SizedBatches(Protocol):
    """What ``UntilDeadline`` wraps: batches with a length that can be iterated."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...


class UntilDeadline:
    """The batches of ``batches`` until ``deadline`` (``time.perf_counter`` seconds, None:
    no deadline); always the first one, so that an epoch is never empty. ``len()`` is the
    full pass (for a progress bar); ``cut`` tells whether the deadline ended it early.

    ``synchronized``: under MPI (``lstmx.distributed``) every rank iterates its copy in step
    with the others, and the ranks decide together, before each batch, whether the time is
    up (up on one rank's clock: up on all), so that they stop at the same step; a deadline
    read on each rank's own clock would stop them at different steps, leaving some waiting
    in a collective for ever. When the wrapped batches split themselves across ranks
    (``shard(rank, size)``), so does this: the shard keeps the deadline."""

    def __init__(self, batches: SizedBatches, deadline: float | None,
                 synchronized: bool = False) -> None:
        self.batches, self.deadline, self._cut = batches, deadline, False
        self.synchronized = bool(synchronized)
        self._shards: list[UntilDeadline] = []

    @property
    def cut(self) -> bool:
        """Whether the deadline ended the last pass (of this or of a shard of it) early."""
        return self._cut or any(part.cut for part in self._shards)

    def __len__(self) -> int:
        return len(self.batches)

    def __getattr__(self, name: str) -> Any:
        if name == "shard" and "batches" in self.__dict__ and hasattr(self.batches, "shard"):
            def shard(rank: int, size: int) -> UntilDeadline:
                part = UntilDeadline(self.batches.shard(rank, size),  # type: ignore[attr-defined]
                                     self.deadline, self.synchronized)
                self._shards.append(part)
                return part
            return shard
        raise AttributeError(name)

    def _past(self) -> bool:
        late = self.deadline is not None and time.perf_counter() > self.deadline
        if self.synchronized:
            from ..distributed import any_rank
            return any_rank(late)
        return late

    def __iter__(self) -> Iterator[Any]:
        for i, batch in enumerate(self.batches):
            if i and self.deadline is not None and self._past():
                self._cut = True
                return
            yield batch
