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
    full pass (for a progress bar); ``cut`` tells whether the deadline ended it early."""

    def __init__(self, batches: SizedBatches, deadline: float | None) -> None:
        self.batches, self.deadline, self.cut = batches, deadline, False

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Any]:
        for i, batch in enumerate(self.batches):
            if i and self.deadline is not None and time.perf_counter() > self.deadline:
                self.cut = True
                return
            yield batch
