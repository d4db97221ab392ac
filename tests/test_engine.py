"""The recurrent engine (lstmx._core.recurrent_forward / recurrent_backward, csrc/) against the
NumPy reference and finite differences.

Every output and gradient, float64 (rel ≤ 1e-10) and float32 (rel ≤ 1e-4), over cell ×
options (conftest.RECURRENT_OPTIONS: PyTorch's cells, the other activations, hard_sigmoid
gates, a recurrent dropout mask, no bias, layer norm, projection, combinations; so both
schedules: "rows" for layer norm and projection, "units" for the rest) × shapes (T=1, B=1
on the fused float32 path with partial 8-step chunks, H not a multiple of 16, H > 64, I != H,
small-batch panels and BLAS) × lengths × dtype × 1 and 2 threads. Then the call forms
(inference, absent states and gradients, need_dx), batch-1 special values (kept scratch,
zero and non-finite states and weights, concurrent callers) and the binding's refusals.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from lstmx import _core
from conftest import (GATES, RECURRENT_OPTIONS, TOL, assert_all_close, assert_close,
                      cell_options, finite_difference, recurrent_case, reference_forward,
                      run_native, run_reference)

# (T, B, I, H): at B=1 the float32 input product runs inside the time loop in chunks of 8
# steps (T=19, 17 end on partial chunks); H=40 over two threads leaves one thread an odd
# number of 16-unit gate groups for GRU; B <= 4 uses the panel kernel, larger B BLAS.
SHAPES = [(1, 1, 3, 5), (4, 1, 7, 17), (19, 1, 9, 40), (17, 1, 33, 24), (6, 3, 5, 33),
          (3, 5, 4, 16), (5, 9, 6, 20), (2, 12, 10, 48), (4, 2, 6, 70), (3, 6, 11, 67)]
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
CELL_OPTIONS = pytest.mark.parametrize("cell,option", cell_options())


def make_lengths(kind, T, B, rng):
    if kind == "none":
        return None
    if kind in ("full", "ones"):
        return np.full(B, T if kind == "full" else 1, np.int64)
    lengths = rng.integers(1, T + 1, size=B).astype(np.int64)
    lengths[0] = T
    lengths[-1] = 1 if B > 1 else T
    return lengths


def case(rng, cell, option, shape, dtype, lengths=None):
    return recurrent_case(rng, cell, shape, dtype, lengths, **RECURRENT_OPTIONS[option])


def forward(cell, a, opts, training=False):
    return _core.recurrent_forward(cell, a["x"], a["h0"], a["c0"], a["params"], a["lengths"],
                                   training=training, **opts)


# lengths all equal, all 1 and mixed for PyTorch's cells; none and mixed for the other options
MATRIX = [pytest.param(cell, option, lengths, id=f"{cell}-{option}-{lengths}")
          for cell, option in cell_options()
          for lengths in (["none", "full", "ones", "mixed"] if option == "default"
                          else ["none", "mixed"])]


@pytest.mark.parametrize("threads", [1, 2])
@DTYPES
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T{}B{}I{}H{}".format(*s))
@pytest.mark.parametrize("cell,option,lengths", MATRIX)
def test_engine_matches_reference(cell, option, lengths, shape, dtype, threads, fixed_threads, rng):
    fixed_threads(threads)
    a, opts = case(rng, cell, option, shape, dtype, make_lengths(lengths, *shape[:2], rng))
    assert_all_close(f"{cell} {option}", run_native(cell, a, opts), run_reference(cell, a, opts),
                     TOL[dtype], dtype)


ACTIVATIONS = {"tanh": 0.0, "relu": 0.0, "leaky_relu": 0.1, "elu": 0.7, "sigmoid": 0.0}
PRODUCT = [pytest.param(cell, dict(activation=act, activation_param=param,
                                   recurrent_activation=rec, layer_norm=ln, proj=proj, mask=mask),
                        id=f"{cell}-{act}-{rec}" + "-ln" * ln + f"-proj{proj}" * bool(proj)
                        + "-mask" * mask)
           for cell in GATES for act, param in ACTIVATIONS.items()
           for rec in (["sigmoid", "hard_sigmoid"] if cell != "rnn" else ["sigmoid"])
           for ln in ([False, True] if cell != "rnn" else [False])
           for proj in ([0, 3] if cell == "lstm" else [0]) for mask in [False, True]]


@DTYPES
@pytest.mark.parametrize("cell,options", PRODUCT)
def test_every_option_combination(cell, options, dtype, rng):
    """activation × recurrent activation × layer norm × projection × dropout mask, at one
    shape with ragged lengths."""
    a, opts = recurrent_case(rng, cell, (6, 5, 4, 9), dtype, np.array([6, 1, 4, 6, 2]), **options)
    assert_all_close(cell, run_native(cell, a, opts), run_reference(cell, a, opts), TOL[dtype],
                     dtype)


@CELL_OPTIONS
def test_engine_gradients_match_finite_differences(cell, option, fixed_threads, rng):
    """Every gradient of L = Σ y·dy + Σ h_n·dh_n (+ Σ c_n·dc_n) in float64: all of dx, dh0,
    dc0 and six entries of each parameter's, against central differences of the inference
    forward, two threads, mixed lengths."""
    fixed_threads(2)
    a, opts = case(rng, cell, option, (5, 3, 4, 18), np.float64, np.array([5, 2, 4]))
    got = run_native(cell, a, opts)

    def loss():
        outs = forward(cell, a, opts)[:3]
        return sum(float(np.sum(o * w)) for o, w in zip(outs, (a["dy"], a["dh_n"], a["dc_n"]))
                   if o is not None)

    arrays = [(n, a[n]) for n in ("x", "h0", "c0") if a[n] is not None] + list(a["params"].items())
    for name, arr in arrays:
        picks = np.arange(arr.size) if name in ("x", "h0", "c0") else \
            rng.choice(arr.size, size=min(6, arr.size), replace=False)
        numeric = finite_difference(loss, arr, 1e-6, picks)
        analytic = got["d" + name].reshape(-1)[picks]
        err = np.abs(analytic - numeric) / np.maximum(np.abs(numeric), 1e-2)
        w = err.argmax()
        assert err[w] <= 1e-6, (f"{cell} {option} d{name}[flat {picks[w]}]: analytic "
                                f"{analytic[w]!r}, numeric {numeric[w]!r}")


@pytest.mark.parametrize("threads", [1, 2])
@DTYPES
@pytest.mark.parametrize("shape", [(19, 1, 9, 40), (6, 3, 5, 33), (3, 6, 11, 67)])
@pytest.mark.parametrize("option", ["default", "hard_sigmoid", "mask-relu-no_bias"])
def test_schedules_agree(option, shape, dtype, threads, fixed_threads, rng):
    """An LSTM with an identity projection (rows schedule) computes what the LSTM without one
    does (units schedule): every output and gradient but the projection's."""
    fixed_threads(threads)
    a, opts = case(rng, "lstm", option, shape, dtype, make_lengths("mixed", *shape[:2], rng))
    plain = run_native("lstm", a, opts)
    a["params"]["w_hr"] = np.eye(shape[3], dtype=dtype)
    rows = run_native("lstm", a, opts)
    del rows["dw_hr"]
    assert_all_close(f"identity projection {option}", rows, plain, TOL[dtype])


@DTYPES
@pytest.mark.parametrize("B", [1, 3])
@CELL_OPTIONS
def test_call_forms(cell, option, B, dtype, rng):
    """Inference (training=False) computes what training does and keeps no workspace; absent
    states and upstream gradients are zeros (and zero upstream gradients give a zero dx);
    need_dx=False leaves out dx alone. Each exactly."""
    a, opts = case(rng, cell, option, (5, B, 4, 21), dtype, np.array([5, 2, 4][:B]))
    *train, ws = forward(cell, a, opts, training=True)
    *infer, none = forward(cell, a, opts)
    assert none is None and ws is not None, "inference must keep no workspace"
    for name, t, i in zip(["y", "h_n", "c_n"], train, infer):
        np.testing.assert_array_equal(t, i, err_msg=f"{cell} {option} {name}: training vs "
                                      "inference")
    absent = {k: None for k in ("h0", "c0", "dy", "dh_n", "dc_n")}
    zeros = {k: None if a[k] is None else np.zeros_like(a[k]) for k in absent}
    got = run_native(cell, a | absent, opts)
    assert_all_close(f"{cell} {option} None vs zeros", got, run_native(cell, a | zeros, opts), 0)
    assert not np.any(got["dx"]), "zero upstream gradients must give zero dx"
    full = run_native(cell, a, opts)
    del full["dx"]
    assert_all_close(f"{cell} {option} need_dx=False", run_native(cell, a, opts, need_dx=False),
                     full, 0)


# ---------------------------------------------------------------------------
# Batch 1: kept scratch, zero and non-finite values, concurrent callers
# ---------------------------------------------------------------------------

def inference_vs_reference(cell, a, opts):
    """(native, reference) (y, h_n) of an inference forward."""
    return forward(cell, a, opts)[:2], reference_forward(cell, a, opts)[:2]


@pytest.mark.parametrize("option", ["default", "mask-relu-no_bias"])
@pytest.mark.parametrize("cell", list(GATES))
def test_batch1_inference_across_kept_scratch_sizes(cell, option, rng):
    """At B=1 the packed W_hh, the input product's W_ih panels and the pre-activations live
    in blocks each thread keeps between calls (csrc/scratch.hpp). Calls that grow them,
    shrink again, and one too large for them (W_hh over 8 MiB: memory of its own) must each
    match the reference."""
    too_large = {"lstm": 760, "gru": 880, "rnn": 1500}[cell]  # packed W_hh of 9-9.3 MB
    for T, I, H in [(3, 5, 7), (41, 33, 96), (2, 4, 9), (4, 16, too_large), (19, 9, 40)]:
        a, opts = case(rng, cell, option, (T, 1, I, H), np.float32, np.array([T]))
        for name, g, w in zip(["y", "h_n"], *inference_vs_reference(cell, a, opts)):
            assert_close(f"{cell} {name} T={T} I={I} H={H}", g, w, TOL[np.float32])


@pytest.mark.parametrize("option", ["default", "mask", "no_bias", "elu"])
@pytest.mark.parametrize("cell", list(GATES))
def test_batch1_zero_initial_state(cell, option, rng):
    """At B=1 a zero h_0 with finite W_hh skips step 0's recurrent product (it is the bias
    alone). No state, a zero h_0 given explicitly (with a non-zero c_0 for LSTM), one that is
    zero but for one small value, and one of negative zeros must each match the reference,
    in inference and (given states) in training."""
    H = 40
    a, opts = case(rng, cell, option, (21, 1, 12, H), np.float32)
    one = np.zeros((1, H), np.float32)
    one[0, H - 1] = 1e-3
    for label, h0 in [("none", None), ("zeros", np.zeros((1, H), np.float32)), ("one value", one),
                      ("negative zeros", np.full((1, H), -0.0, np.float32))]:
        b = dict(a, h0=h0, c0=None if h0 is None else a["c0"])
        for name, g, w in zip(["y", "h_n"], *inference_vs_reference(cell, b, opts)):
            assert_close(f"{cell} {name} h0 {label}", g, w, TOL[np.float32])
        if h0 is not None:
            assert_all_close(f"{cell} h0 {label} (training)", run_native(cell, b, opts),
                             run_reference(cell, b, opts), TOL[np.float32])


@pytest.mark.parametrize("cell", list(GATES))
@pytest.mark.parametrize("bad", [np.inf, np.nan])
@pytest.mark.parametrize("H, gate, unit, col", [
    (48, 0, 47, 3),    # the last thread's unit; a column of the other thread's units
    (48, -1, 0, 1),    # the first unit, last gate; a column of its own units
    (40, -1, 39, 39),  # the partial last block (40 = 2·16 + 8), its own last column
])
def test_batch1_zero_initial_state_nonfinite_w_hh(cell, bad, H, gate, unit, col, rng):
    """0 · Inf and 0 · NaN are NaN: with h_0 = 0 and one non-finite weight in W_hh, step 0's
    gates of that row are NaN, as in the reference (the zero-state skip must not apply to the
    block that holds it), wherever the weight lies in the packed panels."""
    a, opts = case(rng, cell, "default", (6, 1, 10, H), np.float32)
    a["h0"] = np.zeros((1, H), np.float32)
    a["params"]["w_hh"][(gate % GATES[cell]) * H + unit, col] = bad
    with np.errstate(invalid="ignore"):  # the reference's 0 · Inf, expected here
        got, want = inference_vs_reference(cell, a, opts)
    assert np.isnan(got[0][0, 0, unit]), f"{cell}: step 0's h of the unit with the bad weight"
    for name, g, w in zip(["y", "h_n"], got, want):
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{cell} {name} NaN places")
        assert_close(f"{cell} {name}", np.nan_to_num(g), np.nan_to_num(w), TOL[np.float32])


def test_batch1_calls_from_concurrent_threads(rng):
    """Two Python threads running batch-1 kernels at once (the GIL is released inside) each
    use their own kept scratch blocks: every result equals the same call made alone."""
    cases = [("lstm", *case(rng, "lstm", "default", (30, 1, 24, 48), np.float32)),
             ("gru", *case(rng, "gru", "mask", (27, 1, 40, 33), np.float32))]
    alone = [forward(*c)[:2] for c in cases]
    with ThreadPoolExecutor(2) as pool:  # map re-raises an exception of a thread here
        runs = list(pool.map(lambda c: [forward(*c)[:2] for _ in range(15)], cases))
    for (cell, *_), want, got in zip(cases, alone, runs):
        assert all(np.array_equal(g, w) for r in got for g, w in zip(r, want)), (
            f"{cell}: results changed when run concurrently")


# ---------------------------------------------------------------------------
# Refusals of the binding
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cell,change,kw,error,message", [
    ("lstm", {"b_hh": None}, {}, ValueError, "both 'b_ih' and 'b_hh', or neither"),
    ("lstm", {"b_hh": np.zeros(20, np.float32)}, {}, TypeError,
     r"params\['b_hh'\] has dtype float32, expected float64"),
    ("lstm", {}, {"rec_mask": np.ones((1, 4))}, ValueError,
     r"rec_mask must have shape \(B, R\) = \(1, 5\)"),
    ("lstm", {"w_xx": np.zeros(1)}, {}, ValueError, "unknown key 'w_xx'"),
    ("rnn", {}, {"activation": "leaky_relu", "activation_param": -0.1}, ValueError,
     "activation_param must be finite and >= 0"),
    ("gru", {"ln_c_w": np.ones(5), "ln_c_b": np.zeros(5)}, {"layer_norm": True}, ValueError,
     "belong to LSTM only"),
])
def test_binding_refuses(cell, change, kw, error, message, rng):
    a, _ = recurrent_case(rng, cell, (2, 1, 3, 5), np.float64,
                          layer_norm=kw.get("layer_norm", False))
    params = {k: v for k, v in (a["params"] | change).items() if v is not None}
    with pytest.raises(error, match=message):
        _core.recurrent_forward(cell, a["x"], None, None, params, **kw)


def test_backward_refuses_a_workspace_of_another_call(rng):
    """The workspace of a units-schedule forward lacks what the rows schedule keeps, and one
    of a shorter sequence has the wrong shapes."""
    a, opts = case(rng, "lstm", "default", (3, 2, 4, 6), np.float64)
    ws = forward("lstm", a, opts, training=True)[3]
    ln, ln_opts = case(rng, "lstm", "layer_norm", (3, 2, 4, 6), np.float64)
    with pytest.raises(ValueError, match="workspace is missing 'nx': pass the workspace returned"):
        _core.recurrent_backward("lstm", ln["x"], ln["params"], None, workspace=ws, dy=None,
                                 dh_n=None, **ln_opts)
    with pytest.raises(ValueError, match=r"workspace\['hs'\] must have shape \(T\+1, B, R\)"):
        _core.recurrent_backward("lstm", a["x"][:2], a["params"], None, workspace=ws, dy=None,
                                 dh_n=None, **opts)
