"""The thread policy (lstmx.threads, csrc/parallel.*): the CPUs it may use, fixed and
automatic sizes, the adaptive size's decisions, and results that do not depend on the team.

No timing here: the policy's speed is measured in benchmarks/bench_busy.py."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import assert_close

import lstmx
from lstmx import _core
from lstmx.threads import (MAX_THREADS_PER_CPU, available_cpus, cgroup_cpu_limit,
                           configure_openmp_waits, omp_num_threads)


# ---------------------------------------------------------------------------
# The CPUs the automatic policy may use
# ---------------------------------------------------------------------------


def write_cgroup(root, v2=None, v1=None):
    """A fake cgroup tree: v2 ``cpu.max`` text, or v1 (quota, period)."""
    if v2 is not None:
        (root / "cpu.max").write_text(v2 + "\n")
    if v1 is not None:
        (root / "cpu").mkdir()
        (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{v1[0]}\n")
        (root / "cpu" / "cpu.cfs_period_us").write_text(f"{v1[1]}\n")
    return str(root)


@pytest.mark.parametrize("v2,v1,want", [
    ("max 100000", None, None),             # v2 without a quota
    ("200000 100000", None, 2),             # two CPUs
    ("150000 100000", None, 2),             # 1.5 CPUs round up
    ("50000 100000", None, 1),              # half a CPU is still one thread
    (None, (-1, 100000), None),             # v1 without a quota
    (None, (300000, 100000), 3),
    (None, None, None),                     # no cgroup files at all
    ("garbage", None, None),
])
def test_cgroup_quota(tmp_path, v2, v1, want):
    assert cgroup_cpu_limit(write_cgroup(tmp_path, v2, v1)) == want


@pytest.mark.parametrize("environ,affinity,quota,want", [
    ({}, {0, 1, 2, 3}, None, 4),                          # the affinity mask
    ({}, {0, 1, 2, 3, 4, 5, 6, 7}, "300000 100000", 3),   # capped by the container's quota
    ({}, {5}, "800000 100000", 1),                        # quota above the mask: the mask
    ({"OMP_NUM_THREADS": "6"}, {0, 1}, "100000 100000", 6),  # the user's word wins
    ({"OMP_NUM_THREADS": "3,2"}, {0}, None, 3),           # nested levels: the first
    ({"OMP_NUM_THREADS": "zero"}, {0, 1}, None, 2),       # invalid: ignored
    ({"OMP_NUM_THREADS": "0"}, {0, 1, 2}, None, 3),
])
def test_available_cpus(tmp_path, environ, affinity, quota, want):
    root = write_cgroup(tmp_path, v2=quota)
    assert available_cpus(environ=environ, affinity=affinity, cgroup_root=root) == want


def test_omp_num_threads_parsing():
    assert omp_num_threads({}) is None
    assert omp_num_threads({"OMP_NUM_THREADS": " 4 "}) == 4
    assert omp_num_threads({"OMP_NUM_THREADS": "-2"}) is None


def test_openmp_waits_never_override_the_user():
    env = {}
    assert configure_openmp_waits(env) == "GOMP_SPINCOUNT"
    assert int(env["GOMP_SPINCOUNT"]) > 0
    for user in ({"GOMP_SPINCOUNT": "5"}, {"OMP_WAIT_POLICY": "active"}):
        env = dict(user)
        assert configure_openmp_waits(env) is None
        assert env == user


def test_the_budget_comes_from_the_process(tmp_path):
    """A fresh process: its budget follows OMP_NUM_THREADS, and lstmx's wait setting does
    not leak into the environment of the programs it starts."""
    script = ("import os, lstmx; p = lstmx.threads.thread_policy(); "
              "print(p['budget'], lstmx.get_num_threads(), 'GOMP_SPINCOUNT' in os.environ)")
    env = dict(os.environ, OMP_NUM_THREADS="3")
    env.pop("GOMP_SPINCOUNT", None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["3", "3", "False"]


# ---------------------------------------------------------------------------
# Fixed and automatic sizes
# ---------------------------------------------------------------------------


def test_fixed_and_automatic(fixed_threads):
    budget = lstmx.threads.thread_policy()["budget"]
    lstmx.set_num_threads(1)
    assert lstmx.get_num_threads() == 1
    assert not lstmx.threads.thread_policy()["automatic"]
    lstmx.set_num_threads(None)
    policy = lstmx.threads.thread_policy()
    assert policy["automatic"] and lstmx.get_num_threads() == policy["size"] == budget
    # above the budget is the user's choice, within the sane limit
    lstmx.set_num_threads(budget + 1)
    assert lstmx.get_num_threads() == budget + 1


def test_the_limit_is_64_per_cpu(fixed_threads):
    limit = MAX_THREADS_PER_CPU * (os.cpu_count() or 1)
    lstmx.set_num_threads(limit)  # accepted (not run: a team that large would be slow)
    assert lstmx.get_num_threads() == limit
    with pytest.raises(ValueError, match=f"between 1 and {limit}"):
        lstmx.set_num_threads(limit + 1)
    assert lstmx.get_num_threads() == limit


def test_cost_rule():
    """Small products stay on the calling thread; large ones use the size in force."""
    size = lstmx.get_num_threads()
    assert lstmx.threads.threads_for(1e3) == 1
    assert lstmx.threads.threads_for(5e5) == 1
    assert lstmx.threads.threads_for(1e12) == size


# ---------------------------------------------------------------------------
# The adaptive size (driven with made-up measurements and times)
# ---------------------------------------------------------------------------


@pytest.fixture
def adaptive():
    """The automatic policy with a budget of 4, restored afterwards."""
    budget = lstmx.threads.thread_policy()["budget"]
    lstmx.set_num_threads(None)
    _core.set_cpu_budget(4)
    try:
        yield
    finally:
        _core.set_cpu_budget(budget)
        lstmx.set_num_threads(None)


def size():
    return lstmx.threads.thread_policy()["size"]


def test_adaptive_shrinks_when_threads_wait(adaptive):
    assert size() == 4
    _core._adaptive_feed(4, 0.1, False, 0.0)      # a quiet loop: nothing changes
    _core._adaptive_feed(4, 0.45, False, 0.1)     # one mildly slow loop: not yet
    assert size() == 4
    _core._adaptive_feed(4, 0.1, False, 0.2)      # ...and the streak is broken
    _core._adaptive_feed(4, 0.45, False, 0.3)
    assert size() == 4
    _core._adaptive_feed(4, 0.45, False, 0.4)     # two in a row: shrink
    assert size() == 2                            # 4 · (1 - 0.45), rounded
    _core._adaptive_feed(2, 0.9, False, 0.5)      # strongly oversubscribed: at once
    assert size() == 1
    _core._adaptive_feed(1, 0.9, False, 0.6)      # never below one
    assert size() == 1
    assert lstmx.get_num_threads() == 1


def test_adaptive_probes_and_grows_back(adaptive):
    _core._adaptive_feed(4, 0.8, False, 10.0)
    assert size() == 1
    # no probe before the interval...
    assert tuple(_core._adaptive_size_for_call(4, 10.1)) == (1, False)
    # ...then one call runs with a larger team
    n, probe = _core._adaptive_size_for_call(4, 10.6)
    assert probe and n == 2
    assert tuple(_core._adaptive_size_for_call(4, 10.6)) == (1, False)  # one probe at a time
    _core._adaptive_feed(2, 0.5, True, 10.7)      # the probe waited: stay, probe later
    assert size() == 1
    assert tuple(_core._adaptive_size_for_call(4, 11.3)) == (1, False)  # interval doubled
    n, probe = _core._adaptive_size_for_call(4, 11.8)
    assert probe and n == 2
    _core._adaptive_feed(2, 0.05, True, 11.9)     # quiet again: grow
    assert size() == 2
    n, probe = _core._adaptive_size_for_call(4, 12.5)
    assert probe and n == 3
    _core._adaptive_feed(3, 0.05, True, 12.6)
    n, probe = _core._adaptive_size_for_call(4, 13.2)
    _core._adaptive_feed(n, 0.05, probe, 13.3)
    assert size() == 4
    # at the budget there is nothing to probe; a call that cannot use more does not probe
    assert tuple(_core._adaptive_size_for_call(4, 20.0)) == (4, False)
    _core._adaptive_feed(4, 0.9, False, 30.0)
    assert tuple(_core._adaptive_size_for_call(1, 40.0)) == (1, False)


def test_set_num_threads_none_resets_the_adaptive_size(adaptive):
    _core._adaptive_feed(4, 0.9, False, 0.0)
    assert size() == 1
    lstmx.set_num_threads(None)
    assert size() == 4


def test_a_fixed_size_ignores_measurements(fixed_threads):
    lstmx.set_num_threads(2)
    _core._adaptive_feed(2, 0.95, False, 0.0)
    _core._adaptive_feed(2, 0.95, False, 0.1)
    assert lstmx.get_num_threads() == 2


# ---------------------------------------------------------------------------
# Results do not depend on the team the policy picks
# ---------------------------------------------------------------------------


def run_lstm(seed=5, T=7, B=3, I=10, H=40):
    rng = np.random.default_rng(seed)
    layer = lstmx.LSTM(I, H, dtype=np.float64, seed=seed)
    x = rng.standard_normal((T, B, I))
    y, (h, c) = layer(x, lengths=np.array([T, 2, 5]))
    dx, _ = layer.backward(np.ones_like(y))
    return {"y": y, "h": h, "c": c, "dx": dx,
            **{name: p.grad.copy() for name, p in layer.named_parameters()}}


def test_results_equal_whatever_the_automatic_size(adaptive):
    """The automatic policy at its full size, after shrinking, and on a probe: the same
    outputs and gradients as one fixed thread (float64, to rounding)."""
    _core._set_cost_rule(False)  # the test's small layer then uses every thread it is given
    try:
        _core.set_cpu_budget(2)
        want = {}
        lstmx.set_num_threads(1)
        want = run_lstm()
        lstmx.set_num_threads(None)
        got = {"automatic, 2 threads": run_lstm()}
        # time.monotonic is the policy's clock (CLOCK_MONOTONIC): shrink now, probe later
        _core._adaptive_feed(2, 0.9, False, time.monotonic())
        assert size() == 1
        probes = lstmx.threads.thread_policy()["probes"]
        got["automatic, shrunk to 1"] = run_lstm()
        assert lstmx.threads.thread_policy()["probes"] == probes
        time.sleep(0.6)
        got["automatic, probing 2"] = run_lstm()
        assert lstmx.threads.thread_policy()["probes"] == probes + 1
    finally:
        _core._set_cost_rule(True)
    for label, result in got.items():
        for name, value in result.items():
            assert_close(f"{label}: {name}", value, want[name], 1e-12)


def test_concurrent_python_threads_agree_with_sequential_calls():
    """Several Python threads calling layers at once (each call then takes one thread, or
    the whole team when alone) give the results of the same calls made in sequence."""
    H, T = 64, 30
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((T, 1, H)).astype(np.float32) for _ in range(4)]
    layers = [lstmx.LSTM(H, H, seed=k).eval() for k in range(4)]
    want = [layers[k](xs[k])[0] for k in range(4)]
    got = [None] * 4

    def work(k):
        for _ in range(5):
            got[k] = layers[k](xs[k])[0]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert_close(f"thread {k}: y", got[k], want[k], 1e-5)
    assert lstmx.threads.thread_policy()["running"] == 0


def test_only_time_loops_probe(adaptive):
    """A probe needs a measured time loop: products (the decoders' many matmuls) run at the
    size in force and leave the probe to the next layer call."""
    from lstmx._matmul import mm
    _core.set_cpu_budget(2)
    _core._adaptive_feed(2, 0.9, False, time.monotonic())
    assert size() == 1
    time.sleep(0.6)
    probes = lstmx.threads.thread_policy()["probes"]
    a = np.ones((256, 256), np.float32)
    for _ in range(3):
        mm(a, a)
    assert lstmx.threads.thread_policy()["probes"] == probes
    _core._set_cost_rule(False)
    try:
        run_lstm()
    finally:
        _core._set_cost_rule(True)
    assert lstmx.threads.thread_policy()["probes"] == probes + 1
