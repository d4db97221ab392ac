"""Ranks and the collectives of data-parallel training, over MPI (mpi4py) or one process.

The world is ``MPI.COMM_WORLD`` when this process was started by an MPI launcher (``mpiexec``,
``srun --mpi=...``: its ``PMI_*``/``PMIX_*``/``OMPI_*`` variables) or when the program has
imported ``mpi4py.MPI`` itself, and mpi4py is installed; otherwise this process alone
(rank 0 of 1), where every collective below returns at once. MPI is not initialised by
importing lstmx, only by the first call here.

When the world has more than one rank, its first use also

- divides the thread policy's CPUs among the ranks that share them (``threads.rank_cpu_budget``,
  the local ranks from ``Split_type(COMM_TYPE_SHARED)``, their affinity masks compared);
- makes an uncaught exception on any rank abort the whole job (``MPI_Abort`` after the
  traceback is printed), as ``python -m mpi4py`` does: without it the other ranks would wait
  forever in their next collective. A rank killed by a signal takes the job down through the
  launcher (``mpiexec`` ends the other processes: "BAD TERMINATION").

Failures inside a collective step are reported, not hung on: a rank passes the exception it
caught as ``error=``; every rank then raises ``RankFailure`` naming the failed rank(s) and
their messages (the failed rank's own chained to its exception).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .. import threads
from ..nn.module import Parameter
from .gradients import buffer_dtype, pack_gradients, unpack_gradients

__all__ = ["RankFailure", "available", "rank", "size", "is_distributed",
           "broadcast_parameters", "allreduce_gradients", "allreduce_sum", "any_rank",
           "broadcast_object", "barrier", "exit_guard"]

# environment variables an MPI launcher sets in the processes it starts
_LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_SIZE",
                       "MPI_LOCALNRANKS")

# how often a rank waiting for rank 0's work (metrics, a checkpoint) looks again; it sleeps
# meanwhile instead of spinning on a core that rank 0 could use
_POLL_SECONDS = 0.002
# how long a rank that raised RankFailure waits for rank 0 to end the job before ending it
_FORWARD_SECONDS = 0.3
_ABORT_GRACE_SECONDS = 2.0

_UNSET: Any = object()
_world: Any = _UNSET        # the communicator, or None for one process
_buffers: dict[tuple[int, str], np.ndarray] = {}


class RankFailure(RuntimeError):
    """A collective step failed on one or more ranks; raised on every rank.

    ``ranks``: the failed ranks; ``messages``: ``{rank: "Type: message"}``."""

    def __init__(self, where: str, messages: dict[int, str]) -> None:
        self.ranks = sorted(messages)
        self.messages = dict(messages)
        which = ", ".join(str(r) for r in self.ranks)
        detail = "; ".join(f"rank {r}: {m}" for r, m in sorted(messages.items()))
        super().__init__(f"rank{'s' if len(self.ranks) > 1 else ''} {which} failed"
                         + (f" {where}" if where else "") + f" ({detail}); every rank stops "
                         "here (the failed rank printed its traceback)")


def available() -> bool:
    """Whether mpi4py is installed (``pip install lstmx[mpi]``)."""
    try:
        return importlib.util.find_spec("mpi4py") is not None
    except (ImportError, ValueError):
        return False


def _launched_by_mpi() -> bool:
    return any(name in os.environ for name in _LAUNCHER_VARIABLES)


def _launcher_size() -> int:
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE"):
        try:
            return int(os.environ[name])
        except (KeyError, ValueError):
            pass
    return 1


def _get_world() -> Any:
    """``MPI.COMM_WORLD`` (set up on first use), or None for one process."""
    global _world
    if _world is not _UNSET:
        return _world
    _world = None
    if "mpi4py.MPI" not in sys.modules and not _launched_by_mpi():
        return None
    try:
        from mpi4py import MPI
    except ImportError:
        if _launcher_size() > 1:
            warnings.warn(f"started by an MPI launcher with {_launcher_size()} processes, but "
                          "mpi4py is not installed: every process trains alone; install "
                          "lstmx[mpi]", RuntimeWarning, stacklevel=3)
        return None
    comm = MPI.COMM_WORLD
    if comm.Get_size() > 1:
        _share_cpus(comm, MPI)
        _abort_on_uncaught_exception(comm)
    _world = comm
    return comm


def _share_cpus(comm: Any, MPI: Any) -> None:
    """Divide the thread policy's CPU budget among the ranks on this machine that share
    this rank's CPUs (ranks bound to disjoint cores keep theirs)."""
    from .. import _core

    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        try:
            mine = frozenset(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            mine = frozenset(range(os.cpu_count() or 1))
        masks = local.allgather(mine)
    finally:
        local.Free()
    budget = threads.rank_cpu_budget(sum(1 for m in masks if m & mine))
    if budget is not None:
        _core.set_cpu_budget(budget)


def _abort_on_uncaught_exception(comm: Any) -> None:
    """Print an uncaught exception in one piece, headed by the rank, then ``MPI_Abort``.
    A ``RankFailure`` (raised on every rank alike) is told in full by rank 0 and by the
    failed ranks (their own traceback chained); the other ranks say one line and give rank
    0 a moment to abort the job first."""
    import traceback as tb

    me = comm.Get_rank()

    def abort(kind, value, trace):
        if isinstance(value, RankFailure) and me != 0 and me not in value.ranks:
            text = f"[rank {me}] {kind.__name__}: {value}\n"
        else:
            text = f"[rank {me}] " + "".join(tb.format_exception(kind, value, trace))
        sys.stdout.flush()
        sys.stderr.write(text)
        sys.stderr.flush()
        if isinstance(value, RankFailure) and me != 0:
            time.sleep(_ABORT_GRACE_SECONDS)
        # the launcher forwards what a rank wrote through a pipe; an immediate abort can kill
        # the job before rank 0's message has gone through it
        time.sleep(_FORWARD_SECONDS)
        comm.Abort(1)

    sys.excepthook = abort


def rank() -> int:
    """This process's rank (0 without MPI)."""
    world = _get_world()
    return 0 if world is None else int(world.Get_rank())


def size() -> int:
    """The number of ranks (1 without MPI or when started without a launcher)."""
    world = _get_world()
    return 1 if world is None else int(world.Get_size())


def is_distributed() -> bool:
    """Whether more than one rank runs: ``size() > 1``."""
    return size() > 1


def _failure(world: Any, failed: list[int], error: BaseException | None, where: str) -> None:
    """Every rank: gather the failed ranks' messages and raise ``RankFailure``."""
    mine = None if error is None else f"{type(error).__name__}: {error}"
    messages = world.allgather(mine)
    failure = RankFailure(where, {r: messages[r] or "failed" for r in failed})
    if error is not None:
        raise failure from error
    raise failure


def broadcast_parameters(params: Sequence[Parameter], root: int = 0) -> None:
    """Overwrite every parameter's ``data`` with ``root``'s, in place (one flat buffer)."""
    world = _get_world()
    if world is None or world.Get_size() == 1:
        return
    params = list(params)
    buf = np.empty(sum(p.data.size for p in params), dtype=buffer_dtype(params))
    start = 0
    for p in params:
        buf[start:start + p.data.size] = p.data.reshape(-1)
        start += p.data.size
    world.Bcast(buf, root=root)
    start = 0
    for p in params:
        p.data[...] = buf[start:start + p.data.size].reshape(p.data.shape)
        p.version += 1   # the data changed: repacked weights and kept forwards are stale
        start += p.data.size


def allreduce_gradients(params: Sequence[Parameter], count: int,
                        error: BaseException | None = None, where: str = "") -> int:
    """Combine the ranks' gradients in place so that each ``p.grad`` becomes the gradient of
    the mean loss over the union of the ranks' batches: ``Σ_r n_r g_r / N`` (see
    ``lstmx.distributed.gradients``); one all-reduce of one flat buffer. Returns N.

    ``count`` (n_r): the terms of this rank's mean loss (tokens, elements; 0 without a
    batch). ``error``: the exception this rank's step raised, if any; then, and whenever
    another rank passed one, every rank raises ``RankFailure`` (``where`` says when, e.g.
    "at epoch 2, step 7")."""
    world = _get_world()
    params = list(params)
    if world is None or world.Get_size() == 1:
        if error is not None:
            raise error
        return int(count)
    from mpi4py import MPI

    n, r = world.Get_size(), world.Get_rank()
    key = (sum(p.grad.size for p in params) + 1 + n, buffer_dtype(params).name)
    buf = pack_gradients(params, int(count), r, n, failed=error is not None,
                         out=_buffers.get(key))
    _buffers[key] = buf
    world.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    total, failed = unpack_gradients(buf, params, n)
    if failed:
        _failure(world, failed, error, where)
    return total


def allreduce_sum(values: Sequence[float] | np.ndarray, error: BaseException | None = None,
                  where: str = "") -> np.ndarray:
    """The element-wise sum over ranks of ``values`` (float64 ``(K,)``), e.g. loss sums and
    token counts; with the same failure protocol as ``allreduce_gradients``."""
    vals = np.asarray(values, dtype=np.float64).reshape(-1)
    world = _get_world()
    if world is None or world.Get_size() == 1:
        if error is not None:
            raise error
        return vals.copy()
    from mpi4py import MPI

    n, r = world.Get_size(), world.Get_rank()
    buf = np.zeros(vals.size + n)
    if error is None:
        buf[:vals.size] = vals
    else:
        buf[vals.size + r] = 1
    world.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    failed = [int(i) for i in np.flatnonzero(buf[vals.size:])]
    if failed:
        _failure(world, failed, error, where)
    return buf[:vals.size]


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is True on at least one: a decision all ranks take
    alike (e.g. "the time is up", each rank reading its own clock)."""
    world = _get_world()
    if world is None or world.Get_size() == 1:
        return bool(flag)
    from mpi4py import MPI

    return bool(world.allreduce(int(bool(flag)), op=MPI.MAX))


def barrier() -> None:
    """Wait until every rank arrives, sleeping meanwhile (no core spun while rank 0 works)."""
    world = _get_world()
    if world is None or world.Get_size() == 1:
        return
    request = world.Ibarrier()
    while not request.Test():
        time.sleep(_POLL_SECONDS)


def broadcast_object(obj: Any, root: int = 0, error: BaseException | None = None,
                     where: str = "") -> Any:
    """``root``'s ``obj`` (pickled) on every rank, the others sleeping until root is ready.
    ``error`` on root: every rank raises ``RankFailure`` instead."""
    world = _get_world()
    if world is None or world.Get_size() == 1:
        if error is not None:
            raise error
        return obj
    barrier()
    failed, value = world.bcast((error is not None, obj if error is None else None), root=root)
    if failed:
        _failure(world, [root], error, where)
    return value


@contextlib.contextmanager
def exit_guard() -> Iterator[None]:
    """Around a whole program run under MPI: any way out but a normal return (an exception,
    ``SystemExit`` with a non-zero code, Ctrl-C) aborts the job with that code once this rank
    has printed why, so no rank is left waiting in a collective; a normal return waits
    (sleeping) for the other ranks. One process: no effect."""
    world = _get_world()
    if world is None or world.Get_size() == 1:
        yield
        return
    try:
        yield
    except SystemExit as e:
        if e.code in (None, 0):
            barrier()
            raise
        code = e.code if isinstance(e.code, int) else 1
        if not isinstance(e.code, int):
            print(e.code, file=sys.stderr)
        _abort(world, code)
    except BaseException:
        import traceback

        traceback.print_exc()
        _abort(world, 1)
    else:
        barrier()


def _abort(world: Any, code: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(_FORWARD_SECONDS)
    world.Abort(code)
