"""Shared fixtures and comparison helpers for the lstmx tests."""

import zlib

import numpy as np
import pytest

import lstmx
from lstmx import _core
from lstmx import reference as ref
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


# ---------------------------------------------------------------------------
# Recurrent cells: random cases, and the native engine and the reference run on them
# ---------------------------------------------------------------------------

GATES = {"lstm": 4, "gru": 3, "rnn": 1}

# Named option sets of a cell (arguments of recurrent_case): each option alone, then
# combinations. ``proj=True`` stands for a projection to about half of H.
RECURRENT_OPTIONS = {
    "default": {},
    "relu": dict(activation="relu"),
    "leaky_relu": dict(activation="leaky_relu", activation_param=0.1),
    "elu": dict(activation="elu", activation_param=0.7),
    "sigmoid": dict(activation="sigmoid"),
    "hard_sigmoid": dict(recurrent_activation="hard_sigmoid"),
    "mask": dict(mask=True),
    "no_bias": dict(bias=False),
    "layer_norm": dict(layer_norm=True),
    "proj": dict(proj=True),
    "mask-relu-no_bias": dict(mask=True, activation="relu", bias=False),
    "relu-hard_sigmoid-no_bias": dict(activation="relu", recurrent_activation="hard_sigmoid",
                                      bias=False),
    "ln-elu": dict(layer_norm=True, activation="elu", activation_param=0.7),
    "ln-mask-elu-hard_sigmoid": dict(layer_norm=True, mask=True, activation="elu",
                                     activation_param=0.7, recurrent_activation="hard_sigmoid"),
    "proj-ln-leaky_relu-mask": dict(proj=True, layer_norm=True, mask=True,
                                    activation="leaky_relu", activation_param=0.1),
    "proj-no_bias-sigmoid-hard_sigmoid": dict(proj=True, bias=False, activation="sigmoid",
                                              recurrent_activation="hard_sigmoid"),
}


def cell_options(exclude=()):
    """[(cell, option name)] of every option set that applies to the cell (RNN: no gates, no
    layer norm; projection: LSTM only), leaving out sets that use a key in ``exclude``."""
    return [(cell, name) for cell in GATES for name, o in RECURRENT_OPTIONS.items()
            if not (cell == "rnn" and {"recurrent_activation", "layer_norm"} & set(o))
            and not (cell != "lstm" and "proj" in o) and not set(exclude) & set(o)]


def recurrent_params(rng, cell, I, H, dtype, *, proj=0, layer_norm=False, bias=True):
    """Random parameters of one layer and direction, keyed as the engine and the reference
    take them (w_ih, w_hh, b_ih, b_hh, w_hr, ln_*)."""
    G, R = GATES[cell], proj or H
    n = rng.standard_normal
    p = {"w_ih": n((G * H, I)) / np.sqrt(I), "w_hh": n((G * H, R)) / np.sqrt(R)}
    if proj:
        p["w_hr"] = n((proj, H)) / np.sqrt(H)
    if layer_norm:
        for k, size in [("ln_ih", G * H), ("ln_hh", G * H)] + [("ln_c", H)] * (cell == "lstm"):
            p[k + "_w"], p[k + "_b"] = 1 + 0.3 * n(size), 0.3 * n(size)
    elif bias:
        p["b_ih"], p["b_hh"] = 0.5 * n(G * H), 0.5 * n(G * H)
    return {k: v.astype(dtype) for k, v in p.items()}


def recurrent_case(rng, cell, shape, dtype, lengths=None, *, proj=0, bias=True, mask=False,
                   **options):
    """(arrays, options) of one engine call on random data: arrays holds x, h0, c0, params,
    lengths and the upstream gradients dy, dh_n, dc_n; options the keyword arguments of
    ``_core.recurrent_forward`` (rec_mask included: a scaled dropout mask when ``mask``)."""
    T, B, I, H = shape
    proj = (H + 1) // 2 if proj is True else proj
    R = proj or H
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    lstm = cell == "lstm"
    arrays = dict(x=r(T, B, I), h0=r(B, R), c0=r(B, H) if lstm else None, lengths=lengths,
                  params=recurrent_params(rng, cell, I, H, dtype, proj=proj, bias=bias,
                                          layer_norm=options.get("layer_norm", False)),
                  dy=r(T, B, R), dh_n=r(B, R), dc_n=r(B, H) if lstm else None)
    # dropout p = 0.3, but two units of each row kept: with one, LN(W_hh (m ⊙ h)) would not
    # depend on h (a scale) and its gradient would be rounding noise
    keep = rng.random((B, R)) > 0.3
    keep[:, :2] = True
    opts = dict(rec_mask=(keep / 0.7).astype(dtype) if mask else None, activation="tanh",
                activation_param=0.0, recurrent_activation="sigmoid", layer_norm=False, eps=1e-5)
    return arrays, opts | options


def named_results(y, h_n, c_n, dx, dh0, dc0, grads):
    """{y, h_n, c_n, dx, dh0, dc0, d<param>} of a forward and backward, less the None."""
    out = dict(y=y, h_n=h_n, c_n=c_n, dx=dx, dh0=dh0, dc0=dc0)
    out |= {"d" + k: g for k, g in grads.items()}
    return {k: v for k, v in out.items() if v is not None}


def run_native(cell, a, opts, need_dx=True):
    """Training forward and backward of the engine: {y, h_n, (c_n), dx, dh0, (dc0), d<param>}."""
    y, h_n, c_n, ws = _core.recurrent_forward(cell, a["x"], a["h0"], a["c0"], a["params"],
                                              a["lengths"], training=True, **opts)
    back = _core.recurrent_backward(cell, a["x"], a["params"], a["lengths"], workspace=ws,
                                    dy=a["dy"], dh_n=a["dh_n"], dc_n=a["dc_n"], need_dx=need_dx,
                                    **opts)
    return named_results(y, h_n, c_n, *back)


def reference_forward(cell, a, opts):
    """The reference's forward on a case: (y, h_n, c_n or None, cache)."""
    kw = dict(opts)
    if cell == "rnn":
        for k in ("recurrent_activation", "layer_norm", "eps"):
            del kw[k]
    if cell == "lstm":
        return ref.lstm_forward(a["x"], a["h0"], a["c0"], a["params"], a["lengths"], **kw)
    forward = getattr(ref, cell + "_forward")
    y, h_n, cache = forward(a["x"], a["h0"], a["params"], a["lengths"], **kw)
    return y, h_n, None, cache


def run_reference(cell, a, opts):
    """``run_native`` by the NumPy reference."""
    y, h_n, c_n, cache = reference_forward(cell, a, opts)
    if cell == "lstm":
        return named_results(y, h_n, c_n, *ref.lstm_backward(a["dy"], a["dh_n"], a["dc_n"], cache))
    dx, dh0, grads = getattr(ref, cell + "_backward")(a["dy"], a["dh_n"], cache)
    return named_results(y, h_n, None, dx, dh0, None, grads)


def assert_all_close(label, got, want, tol, dtype=None):
    """``assert_close`` on every entry of two {name: array} dicts with the same keys (and,
    with ``dtype``, the dtype of every entry of ``got``)."""
    assert set(got) == set(want), f"{label}: got {sorted(got)}, expected {sorted(want)}"
    for name in want:
        if dtype is not None:
            assert got[name].dtype == dtype, (
                f"{label} {name}: dtype {got[name].dtype}, expected {np.dtype(dtype)}")
        assert_close(f"{label} {name}", got[name], want[name], tol)
