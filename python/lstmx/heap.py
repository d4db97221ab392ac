"""Freed memory kept in the process's heap during training.

A training step allocates the same large arrays at every step (logits, softmax, their
gradients: tens of MB for a translation model). glibc returns blocks that large to the
operating system when they are freed, and the next step then touches fresh pages: measured on
the seq2seq benchmark model, 5,500 page faults and about 15 % of each step's time.
``keep_freed_memory`` raises glibc's mmap and trim thresholds once, so freed blocks stay in
the heap for the next step; lstmx's training entry points call it. The memory a process holds
then stays at its peak. It does nothing where glibc is absent, when the user tuned malloc
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``), or after the first
call.
"""

from __future__ import annotations

import ctypes
import os

_done = False


def keep_freed_memory(mib: int = 64) -> bool:
    """Keep freed blocks below ``mib`` MiB in the heap (mmap threshold ``mib`` MiB, trim
    threshold 4 × that). Returns whether it took effect now."""
    global _done
    if _done:
        return False
    _done = True
    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                           "GLIBC_TUNABLES")):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameter numbers
    return (bool(libc.mallopt(m_mmap_threshold, mib << 20))
            and bool(libc.mallopt(m_trim_threshold, 4 * mib << 20)))
