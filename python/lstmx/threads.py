"""How lstmx chooses its threads, in one place.

lstmx runs its kernels on one OpenMP pool. Each native call takes a team from it:

1. **The size in force.** ``lstmx.set_num_threads(n)`` fixes it. By default (or after
   ``lstmx.set_num_threads(None)``) it is automatic: at most the CPUs this process may really
   use (``available_cpus``: ``OMP_NUM_THREADS`` when set, else the affinity mask and the
   cgroup CPU quota of a container), shrunk while the kernels see their threads wait at the
   time loop's step barriers for a peer the OS descheduled (another program holds the core),
   and grown back by an occasional trial call with a larger team once the machine is quiet.
   ``lstmx.get_num_threads()`` reports the size in force.
2. **The cost rule.** A call never takes more threads than its work can use: a region gets a
   thread per ~1 MFLOP, a time loop a thread per 64 hidden units and ~64 kFLOP of each step's
   product. Small products in Python loops (decoder steps, attention, output layers) then
   run on the calling thread without waking any other.
3. **Several Python threads** calling lstmx at once share the CPUs: a call that starts while
   other calls run takes one thread, its caller's own, instead of a whole team.
4. **Several MPI ranks on one machine** (``lstmx.distributed``) divide the automatic policy's
   CPUs among the ranks whose affinity masks overlap (``rank_cpu_budget``), instead of each
   taking all of them. ``OMP_NUM_THREADS`` (per process) and ``set_num_threads`` still win.

Waiting threads spin briefly, then sleep: lstmx's step barrier sleeps on a futex after tens of
microseconds, and the OpenMP runtime's own idle threads are told the same
(``GOMP_SPINCOUNT``, set at import only when neither it nor ``OMP_WAIT_POLICY`` is set: a
user's setting wins).

NumPy brings its own OpenBLAS with a pool of its own, whose threads keep spinning for a while
after each matrix product. Loops that alternate the two at every step (a decoder: attention in
NumPy, then a native cell step) make the pools steal cores from each other, so
``one_numpy_blas_thread`` runs lstmx's own loops (``Trainer.fit``/``evaluate``, translation,
sampling) with every BLAS pool at one thread (threadpoolctl); outside them NumPy keeps its
threads.
"""

from __future__ import annotations

import functools
import math
import operator
import os
from collections.abc import Mapping, MutableMapping

from threadpoolctl import threadpool_limits

#: set_num_threads refuses more than this many threads per CPU (the OpenMP runtime would fail).
MAX_THREADS_PER_CPU = 64

#: pause iterations libgomp's idle threads spin before sleeping, about a millisecond (its
#: default, 300,000, keeps a core busy for several milliseconds after every parallel region;
#: much less than this slows the decoders, whose next small region then wakes a sleeper).
OPENMP_SPIN_COUNT = 50_000


def _positive_int(text):
    try:
        n = int(text)
    except (TypeError, ValueError):
        return None
    return n if n >= 1 else None


def omp_num_threads(environ: Mapping[str, str] | None = None) -> int | None:
    """The first level of ``OMP_NUM_THREADS`` ("4" or "4,2"), or None when unset or invalid."""
    environ = os.environ if environ is None else environ
    value = environ.get("OMP_NUM_THREADS", "").strip()
    return _positive_int(value.split(",")[0]) if value else None


def cgroup_cpu_limit(root: str = "/sys/fs/cgroup") -> int | None:
    """CPUs the container's cgroup quota allows (rounded up), or None without a quota.

    cgroup v2: ``cpu.max`` holds ``"quota period"`` (``"max period"`` for none); v1:
    ``cpu/cpu.cfs_quota_us`` (-1 for none) and ``cpu/cpu.cfs_period_us``."""
    def read(*parts):
        try:
            with open(os.path.join(root, *parts)) as f:
                return f.read().split()
        except OSError:
            return None

    v2 = read("cpu.max")
    if v2 and len(v2) == 2:
        quota, period = v2
    else:
        q, p = read("cpu", "cpu.cfs_quota_us"), read("cpu", "cpu.cfs_period_us")
        if not q or not p:
            return None
        quota, period = q[0], p[0]
    try:
        quota_f, period_f = float(quota), float(period)
    except ValueError:  # "max": no quota
        return None
    if quota_f <= 0 or period_f <= 0:
        return None
    return max(1, math.ceil(quota_f / period_f))


def available_cpus(environ: Mapping[str, str] | None = None,
                   affinity: set[int] | None = None,
                   cgroup_root: str = "/sys/fs/cgroup") -> int:
    """CPUs this process may use: the automatic policy's ceiling.

    ``OMP_NUM_THREADS`` when set (the user's word); else the CPUs of the affinity mask
    (``os.sched_getaffinity``), capped by the cgroup quota (``cgroup_cpu_limit``). The
    arguments exist for the tests; by default they are read from this process."""
    n = omp_num_threads(environ)
    if n is not None:
        return n
    if affinity is None:
        try:
            affinity = os.sched_getaffinity(0)
        except (AttributeError, OSError):
            affinity = set(range(os.cpu_count() or 1))
    n = max(1, len(affinity))
    quota = cgroup_cpu_limit(cgroup_root)
    return min(n, quota) if quota is not None else n


def rank_cpu_budget(sharing: int, environ: Mapping[str, str] | None = None,
                    affinity: set[int] | None = None,
                    cgroup_root: str = "/sys/fs/cgroup") -> int | None:
    """The CPU budget of one of ``sharing`` MPI ranks that share this process's CPUs:
    ``available_cpus() // sharing`` (at least 1), or None to leave the budget as it is
    (``OMP_NUM_THREADS`` set: the user sized each process; or no other rank shares them,
    e.g. ranks bound to their own cores)."""
    if sharing < 1:
        raise ValueError(f"sharing must be >= 1, got {sharing}")
    if omp_num_threads(environ) is not None or sharing == 1:
        return None
    return max(1, available_cpus(environ, affinity, cgroup_root) // sharing)


def configure_openmp_waits(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Before the OpenMP runtime loads: let its idle threads spin briefly, then sleep.

    Sets ``GOMP_SPINCOUNT`` unless the user set it or ``OMP_WAIT_POLICY``; returns the name
    set (to be removed again once the runtime has read it), or None."""
    if environ is None:
        environ = os.environ
    if "GOMP_SPINCOUNT" in environ or "OMP_WAIT_POLICY" in environ:
        return None
    environ["GOMP_SPINCOUNT"] = str(OPENMP_SPIN_COUNT)
    return "GOMP_SPINCOUNT"


def set_num_threads(n: int | None) -> None:
    """Fix the kernels' team size to ``n`` threads, or ``None`` for the automatic policy.

    Raises ValueError for n < 1 or above 64 threads per CPU, TypeError for a non-integer."""
    from . import _core

    if n is None:
        _core.set_num_threads(0)
        return
    if isinstance(n, bool):
        raise TypeError(f"n must be an int or None, got {n!r}")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n must be an int or None, got {type(n).__name__}") from None
    limit = MAX_THREADS_PER_CPU * (os.cpu_count() or 1)
    if not 1 <= n <= limit:
        raise ValueError(f"n must be between 1 and {limit} ({MAX_THREADS_PER_CPU} per CPU), "
                         f"or None for the automatic policy, got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The team size in force: the fixed size, or the automatic policy's current size."""
    from . import _core

    return _core.get_num_threads()


def thread_policy() -> dict:
    """The policy's state: ``automatic``, ``budget`` (CPUs it may use), ``size`` (in force),
    ``running`` (native calls running now), and the adaptive policy's counts of
    ``shrinks``, ``grows`` and ``probes`` and the ``last_wait`` share it measured."""
    from . import _core

    return _core._policy_stats()


def threads_for(flops: float) -> int:
    """Threads worth using for a parallel region of ``flops`` operations (the cost rule)."""
    from . import _core

    return _core.threads_for(float(flops))


def one_numpy_blas_thread(fn):
    """Decorator: call ``fn`` with BLAS pools (NumPy's included) limited to one thread."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper
