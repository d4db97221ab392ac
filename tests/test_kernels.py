"""Native sequence kernels and cell steps (csrc/, src/cells/) vs the NumPy reference.

Every output and gradient of lstm/gru/rnn forward and backward, float64 (rel ≤ 1e-10) and
float32 (rel ≤ 1e-4), over shapes that hit T=1, B=1, H not a multiple of 8 or 16, both
recurrent-GEMM paths (small batch panels, BLAS), and lengths all equal, all 1 and mixed.
"""

import numpy as np
import pytest

import lstmx
from lstmx import _cells, _core
from lstmx import reference as ref
from conftest import TOL, assert_close

GATES = {"lstm": 4, "gru": 3, "rnn": 1, "rnn_relu": 1}

# (T, B, I, H): T=1, B=1, odd H, H > one block, small- and large-batch paths. At B=1 the
# float32 input product runs inside the time loop in chunks of 8 steps (FusedInput): T=19
# and 17 end on partial chunks; H=40 over two threads leaves one thread an odd number of
# 16-unit gate groups for GRU (3 blocks × 3 gates split 2 / 1).
SHAPES = [(1, 1, 3, 5), (4, 1, 7, 17), (19, 1, 9, 40), (17, 1, 33, 24), (6, 3, 5, 33), (3, 5, 4, 16),
          (5, 9, 6, 20), (2, 12, 10, 48)]
LENGTH_KINDS = ["none", "full", "ones", "mixed"]


def make_lengths(kind, T, B, rng):
    if kind == "none":
        return None
    if kind == "full":
        return np.full(B, T, np.int64)
    if kind == "ones":
        return np.ones(B, np.int64)
    lengths = rng.integers(1, T + 1, size=B).astype(np.int64)
    lengths[0] = T
    lengths[-1] = 1 if B > 1 else T
    return lengths


def make_case(kind, shape, dtype, rng):
    T, B, I, H = shape
    G = GATES[kind]
    r = lambda *s, scale=1.0: (rng.standard_normal(s) * scale).astype(dtype)
    return dict(x=r(T, B, I), h0=r(B, H), c0=r(B, H), w_ih=r(G * H, I, scale=0.5),
                w_hh=r(G * H, H, scale=0.5 / np.sqrt(H) * 2), b_ih=r(G * H), b_hh=r(G * H),
                dy=r(T, B, H), dh_n=r(B, H), dc_n=r(B, H))


def run_both(kind, c, lengths):
    """(names, native results, reference results) for forward + backward."""
    x, w = c["x"], (c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"])
    if kind == "lstm":
        y, h, cn, ws = _core.lstm_forward(x, c["h0"], c["c0"], *w, lengths=lengths)
        grads = _core.lstm_backward(x, c["w_ih"], c["w_hh"], lengths, ws, c["dy"], c["dh_n"], c["dc_n"])
        ry, rh, rc, cache = ref.lstm_forward(x, c["h0"], c["c0"], *w, lengths=lengths)
        rgrads = ref.lstm_backward(c["dy"], c["dh_n"], c["dc_n"], cache)
        names = ["y", "h_n", "c_n", "dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"]
        return names, [y, h, cn, *grads], [ry, rh, rc, *rgrads]
    base = kind[:3]
    nl = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    y, h, ws = getattr(_core, base + "_forward")(x, c["h0"], *w, lengths=lengths, **nl)
    grads = getattr(_core, base + "_backward")(x, c["w_ih"], c["w_hh"], lengths, ws, c["dy"], c["dh_n"], **nl)
    ry, rh, cache = getattr(ref, base + "_forward")(x, c["h0"], *w, lengths=lengths, **nl)
    rgrads = getattr(ref, base + "_backward")(c["dy"], c["dh_n"], cache)
    names = ["y", "h_n", "dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh"]
    return names, [y, h, *grads], [ry, rh, *rgrads]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lengths_kind", LENGTH_KINDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", list(GATES))
def test_sequence_kernel_matches_reference(kind, shape, lengths_kind, dtype, rng):
    c = make_case(kind, shape, dtype, rng)
    lengths = make_lengths(lengths_kind, shape[0], shape[1], rng)
    names, got, want = run_both(kind, c, lengths)
    for name, g, w in zip(names, got, want):
        assert g.dtype == dtype, f"{name} has dtype {g.dtype}, expected {np.dtype(dtype)}"
        assert_close(f"{kind} {name}", g, w, TOL[dtype])


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_inference_forward_equals_training_forward(kind, rng):
    c = make_case(kind, (5, 3, 4, 21), np.float64, rng)
    lengths = np.array([5, 2, 4], np.int64)
    w = (c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"])
    f = getattr(_core, kind + "_forward")
    states = (c["h0"], c["c0"]) if kind == "lstm" else (c["h0"],)
    train = f(c["x"], *states, *w, lengths=lengths, training=True)
    infer = f(c["x"], *states, *w, lengths=lengths, training=False)
    assert infer[-1] is None, "inference must keep no workspace"
    assert train[-1] is not None
    for i, (a, b) in enumerate(zip(train[:-1], infer[:-1])):
        np.testing.assert_array_equal(a, b, err_msg=f"{kind} output {i}")


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_missing_gradients_and_states_are_zeros(kind, rng):
    c = make_case(kind, (4, 2, 3, 6), np.float64, rng)
    w = (c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"])
    zeros = np.zeros_like(c["h0"])
    f, b = getattr(_core, kind + "_forward"), getattr(_core, kind + "_backward")
    n_states = 2 if kind == "lstm" else 1
    out_none = f(c["x"], *([None] * n_states), *w)
    out_zero = f(c["x"], *([zeros] * n_states), *w)
    np.testing.assert_array_equal(out_none[0], out_zero[0])
    g_none = b(c["x"], c["w_ih"], c["w_hh"], None, out_none[-1], None, *([None] * n_states))
    g_zero = b(c["x"], c["w_ih"], c["w_hh"], None, out_zero[-1], np.zeros_like(out_zero[0]),
               *([zeros] * n_states))
    for a, z in zip(g_none, g_zero):
        np.testing.assert_array_equal(a, z)
    assert np.all(g_none[0] == 0), "zero upstream gradient must give zero dx"


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_dx_can_be_skipped(kind, rng):
    c = make_case(kind, (3, 2, 4, 5), np.float64, rng)
    w = (c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"])
    f, b = getattr(_core, kind + "_forward"), getattr(_core, kind + "_backward")
    states = (c["h0"], c["c0"]) if kind == "lstm" else (c["h0"],)
    dstates = (c["dh_n"], c["dc_n"]) if kind == "lstm" else (c["dh_n"],)
    ws = f(c["x"], *states, *w)[-1]
    full = b(c["x"], c["w_ih"], c["w_hh"], None, ws, c["dy"], *dstates)
    skip = b(c["x"], c["w_ih"], c["w_hh"], None, ws, c["dy"], *dstates, need_dx=False)
    assert skip[0] is None
    for a, s in zip(full[1:], skip[1:]):
        np.testing.assert_array_equal(a, s)


def inference_forward(module, kind, c, lengths=None):
    """(y, h_n) of a forward pass by `module` (_core, in inference, or the reference)."""
    w = (c["w_ih"], c["w_hh"], c["b_ih"], c["b_hh"])
    base = "rnn" if kind == "rnn_relu" else kind
    states = (c["h0"], c["c0"]) if base == "lstm" else (c["h0"],)
    nl = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
    mode = {"training": False} if module is _core else {}
    return getattr(module, base + "_forward")(c["x"], *states, *w, lengths=lengths, **mode, **nl)[:2]


def inference_vs_reference(kind, c, lengths=None):
    """(native, reference) (y, h_n) of an inference forward pass (training=False)."""
    return inference_forward(_core, kind, c, lengths), inference_forward(ref, kind, c, lengths)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_batch1_inference_across_kept_scratch_sizes(kind, rng):
    """At B=1 the packed W_hh, the input product's W_ih panels and the pre-activations live
    in blocks each thread keeps between calls (csrc/scratch.hpp). Calls that grow them,
    shrink again, and one too large for them (W_hh over 8 MiB: memory of its own) must each
    match the reference."""
    too_large = {"lstm": 760, "gru": 880, "rnn": 1500}[kind]  # packed W_hh of 9-9.3 MB
    for T, I, H in [(3, 5, 7), (41, 33, 96), (2, 4, 9), (4, 16, too_large), (19, 9, 40)]:
        c = make_case(kind, (T, 1, I, H), np.float32, rng)
        got, want = inference_vs_reference(kind, c, np.array([T], np.int64))
        for name, g, w in zip(["y", "h_n"], got, want):
            assert_close(f"{kind} {name} T={T} I={I} H={H}", g, w, TOL[np.float32])


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_batch1_zero_initial_state(kind, rng):
    """At B=1 a zero h_0 with finite W_hh skips step 0's recurrent product (it is the bias
    alone). No state, a zero h_0 given explicitly (with a non-zero c_0 for LSTM), one that is
    zero but for one small value, and one of negative zeros must each match the reference."""
    T, I, H = 21, 12, 40
    c = make_case(kind, (T, 1, I, H), np.float32, rng)
    one = np.zeros((1, H), np.float32)
    one[0, H - 1] = 1e-3
    for label, h0 in [("none", None), ("zeros", np.zeros((1, H), np.float32)), ("one value", one),
                      ("negative zeros", np.full((1, H), -0.0, np.float32))]:
        c["h0"] = h0
        if h0 is None and kind == "lstm":
            c["c0"] = None
        got, want = inference_vs_reference(kind, c)
        for name, g, w in zip(["y", "h_n"], got, want):
            assert_close(f"{kind} {name} h0 {label}", g, w, TOL[np.float32])
        if h0 is not None:
            names, nat, refs = run_both(kind, c, None)  # training: the workspace path too
            for name, g, w in zip(names, nat, refs):
                assert_close(f"{kind} {name} h0 {label} (training)", g, w, TOL[np.float32])


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bad", [np.inf, np.nan])
@pytest.mark.parametrize("H, gate, unit, col", [
    (48, 0, 47, 3),    # the last thread's unit; a column of the other thread's units
    (48, -1, 0, 1),    # the first unit, last gate; a column of its own units
    (40, -1, 39, 39),  # the partial last block (40 = 2·16 + 8), its own last column
])
def test_batch1_zero_initial_state_nonfinite_w_hh(kind, bad, H, gate, unit, col, rng):
    """0 · Inf and 0 · NaN are NaN: with h_0 = 0 and one non-finite weight in W_hh, step 0's
    gates of that row are NaN, as in the reference (the zero-state skip must not apply to the
    block that holds it), wherever the weight lies in the packed panels."""
    T, I = 6, 10
    c = make_case(kind, (T, 1, I, H), np.float32, rng)
    c["h0"] = np.zeros((1, H), np.float32)
    gate %= GATES[kind]
    c["w_hh"][gate * H + unit, col] = bad
    with np.errstate(invalid="ignore"):  # the reference's 0 · Inf, expected here
        got, want = inference_vs_reference(kind, c)
    assert np.isnan(got[0][0, 0, unit]), f"{kind}: step 0's h of the unit with the bad weight"
    for name, g, w in zip(["y", "h_n"], got, want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{kind} {name} NaN places")
        assert_close(f"{kind} {name}", np.nan_to_num(g), np.nan_to_num(w), TOL[np.float32])


def test_batch1_calls_from_concurrent_threads(rng):
    """Two Python threads running batch-1 kernels at once (the GIL is released inside) each
    use their own kept scratch blocks: every result equals the same call made alone."""
    import threading

    cases = [("lstm", make_case("lstm", (30, 1, 24, 48), np.float32, rng)),
             ("gru", make_case("gru", (27, 1, 40, 33), np.float32, rng))]
    alone = [inference_forward(_core, kind, c) for kind, c in cases]
    bad, errors = [], []

    def worker(i):
        try:
            kind, c = cases[i]
            for _ in range(15):
                got = inference_forward(_core, kind, c)
                if not all(np.array_equal(g, a) for g, a in zip(got, alone[i])):
                    bad.append(i)
        except Exception as e:  # surfaced below: an exception in a thread would pass silently
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert not bad, f"results of threads {sorted(set(bad))} changed when run concurrently"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("B,H", [(1, 5), (4, 19), (7, 32)])
def test_cell_steps_match_reference(B, H, dtype, rng):
    """The Cython cell steps (LSTMCell, GRUCell, RNNCell) against the reference cells."""
    I = 6
    r = lambda *s: rng.standard_normal(s).astype(dtype)
    x, h, c, dh, dc = r(B, I), r(B, H), r(B, H), r(B, H), r(B, H)
    cases = [("lstm", lstmx.LSTMCell, 4), ("gru", lstmx.GRUCell, 3),
             ("rnn", lstmx.RNNCell, 1), ("rnn_relu", lstmx.RNNCell, 1)]
    for kind, cls, G in cases:
        kw = {"nonlinearity": "relu"} if kind == "rnn_relu" else {}
        cell = cls(I, H, dtype=dtype, seed=1, **kw)
        p = [cell.weight_ih.data, cell.weight_hh.data, cell.bias_ih.data, cell.bias_hh.data]
        if kind == "lstm":
            hn, cn = cell(x, (h, c))
            dx, (dh0, dc0) = cell.backward(dh, dc)
            rh, rc, cache = ref.lstm_cell_forward(x, h, c, *p)
            rdx, rdh, rdc, *rg = ref.lstm_cell_backward(dh, dc, cache)
            pairs = [("h", hn, rh), ("c", cn, rc), ("dx", dx, rdx), ("dh", dh0, rdh), ("dc", dc0, rdc)]
        else:
            fn = getattr(ref, kind[:3] + "_cell_forward")
            bn = getattr(ref, kind[:3] + "_cell_backward")
            hn = cell(x, h)
            dx, dh0 = cell.backward(dh)
            rh, cache = fn(x, h, *p, **kw)
            rdx, rdh, *rg = bn(dh, cache)
            pairs = [("h", hn, rh), ("dx", dx, rdx), ("dh", dh0, rdh)]
        names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
        pairs += [(n, getattr(cell, n).grad, g) for n, g in zip(names, rg)]
        for name, got, want in pairs:
            assert_close(f"{kind} cell {name}", got, want, TOL[dtype])


def test_raw_cell_kernels_keep_nan(rng):
    """NaN in a pre-activation propagates through the fused gate math."""
    gx = rng.standard_normal((2, 8))
    gx[0, 0] = np.nan
    h, c, _, _ = _cells.lstm_step_forward(gx, np.zeros((2, 8)), np.zeros((2, 2)), False, 1)
    assert np.isnan(h[0, 0]) and np.isnan(c[0, 0])
    assert np.all(np.isfinite(h[1]))
