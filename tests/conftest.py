"""Shared fixtures and comparison helpers for the lstmx tests."""

import zlib

import numpy as np
import pytest

import lstmx
from lstmx import _core
from lstmx.nn.options import PARAM_KEYS

# Relative-error bars of the kernel contract: native against the NumPy reference.
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def assert_close(name, got, want, tol):
    """Fail with the tensor's name, the worst index, expected vs got, when
    max|got - want| / max|want| exceeds ``tol``."""
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{name}: shape {got.shape}, expected {want.shape}"
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    scale = max(float(np.max(np.abs(want))), 1e-30)
    if diff.size and diff.max() / scale > tol:
        idx = np.unravel_index(np.argmax(diff), diff.shape)
        raise AssertionError(
            f"{name}[{', '.join(map(str, idx))}]: expected {want[idx]!r}, got {got[idx]!r}; "
            f"relative error {diff.max() / scale:.3e} > {tol:g}")


def reference_params(module, suffix="_l0"):
    """The parameters of one layer and direction of ``module`` (``suffix`` "_l0",
    "_l1_reverse", ...; "" for a cell) as the dict ``lstmx.reference`` takes: copies."""
    state = module.state_dict()
    return {key: state[stem + suffix] for key, stem in PARAM_KEYS.items()
            if stem + suffix in state}


def finite_difference(f, arr, h=1e-6, flat_indices=None):
    """∂f/∂arr by central differences, perturbing ``arr`` in place (each entry restored).

    ``f()`` returns the scalar loss. With ``flat_indices``, only those entries of
    ``arr.reshape(-1)`` are perturbed and a 1-D array of their derivatives is returned;
    otherwise the full gradient, shaped like ``arr``."""
    flat = arr.reshape(-1)
    picks = range(flat.size) if flat_indices is None else flat_indices
    out = np.zeros(len(picks))
    for j, i in enumerate(picks):
        old = flat[i]
        flat[i] = old + h
        up = f()
        flat[i] = old - h
        down = f()
        flat[i] = old
        out[j] = (up - down) / (2 * h)
    return out.reshape(arr.shape) if flat_indices is None else out


@pytest.fixture
def rng(request):
    """A generator seeded by the test's name: reproducible, different per test."""
    seed = zlib.crc32(request.node.nodeid.encode())
    return np.random.default_rng(seed)


@pytest.fixture
def fixed_threads():
    """``fixed_threads(n)`` fixes the team at n threads with the cost rule off, so that the
    tests' small shapes run on the multi-thread paths; the automatic policy and the cost
    rule are restored afterwards."""
    def fix(n):
        _core._set_cost_rule(False)
        lstmx.set_num_threads(n)
    try:
        yield fix
    finally:
        _core._set_cost_rule(True)
        lstmx.set_num_threads(None)
