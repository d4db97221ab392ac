"""Fuzz tests of the native bindings (hypothesis, bounded and derandomized for CI).

1. Random shapes, lengths, value scales and dtypes through the layers and cells: the native
   forward and backward agree with the NumPy reference.
2. Random malformed arguments to the raw bindings: every call either works or raises
   TypeError/ValueError; none crashes the process or returns garbage silently.
"""

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import lstmx  # noqa: E402
from conftest import reference_params  # noqa: E402
from lstmx import _core, reference  # noqa: E402

FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
KINDS = {"lstm": lstmx.LSTM, "gru": lstmx.GRU, "rnn": lstmx.RNN}
TOL = {np.float64: 1e-9, np.float32: 2e-3}


@st.composite
def layer_case(draw):
    kind = draw(st.sampled_from(sorted(KINDS)))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    T, B = draw(st.integers(1, 7)), draw(st.integers(1, 5))
    I, H = draw(st.integers(1, 9)), draw(st.integers(1, 40))
    scale = draw(st.sampled_from([0.01, 1.0, 4.0]))
    ragged = draw(st.booleans()) and B > 1
    seed = draw(st.integers(0, 2**16))
    return kind, dtype, T, B, I, H, scale, ragged, seed


@FUZZ
@given(layer_case())
def test_layers_agree_with_the_reference(case):
    kind, dtype, T, B, I, H, scale, ragged, seed = case
    rng = np.random.default_rng(seed)
    layer = KINDS[kind](I, H, dtype=dtype, seed=seed)
    x = (scale * rng.standard_normal((T, B, I))).astype(dtype)
    h0 = rng.standard_normal((1, B, H)).astype(dtype)
    lengths = rng.integers(1, T + 1, B) if ragged else None
    dy = rng.standard_normal((T, B, H)).astype(dtype)
    params = reference_params(layer)
    if kind == "lstm":
        c0 = rng.standard_normal((1, B, H)).astype(dtype)
        y, (h_n, c_n) = layer(x, (h0, c0), lengths=lengths)
        dx, (dh0, dc0) = layer.backward(dy)
        ry, rh, rc, cache = reference.lstm_forward(x, h0[0], c0[0], params, lengths)
        *want, rgrads = reference.lstm_backward(dy, None, None, cache)
        got_f, want_f = [y, h_n[0], c_n[0]], [ry, rh, rc]
        got_b = [dx, dh0[0], dc0[0]]
    else:
        y, h_n = layer(x, h0, lengths=lengths)
        dx, dh0 = layer.backward(dy)
        ry, rh, cache = getattr(reference, f"{kind}_forward")(x, h0[0], params, lengths)
        *want, rgrads = getattr(reference, f"{kind}_backward")(dy, None, cache)
        got_f, want_f = [y, h_n[0]], [ry, rh]
        got_b = [dx, dh0[0]]
    grads = [layer.weight_ih_l0.grad, layer.weight_hh_l0.grad, layer.bias_ih_l0.grad,
             layer.bias_hh_l0.grad]
    want += [rgrads[k] for k in ("w_ih", "w_hh", "b_ih", "b_hh")]
    tol = TOL[dtype]
    for name, g, r in zip(["y", "h_n", "c_n"], got_f, want_f):
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol, err_msg=f"{kind} {name} {case}")
    n = len(got_b)
    for name, g, r in zip(["dx", "dh0", "dc0"][:n] + ["dw_ih", "dw_hh", "db_ih", "db_hh"],
                          got_b + grads, want):
        np.testing.assert_allclose(g, r, rtol=tol, atol=tol * max(1.0, float(np.abs(r).max())),
                                   err_msg=f"{kind} {name} {case}")


@FUZZ
@given(st.sampled_from(["lstm", "gru", "rnn"]), st.integers(1, 6), st.integers(1, 7),
       st.integers(1, 33), st.integers(0, 2**16))
def test_cells_agree_with_the_layers(kind, B, I, H, seed):
    """One cell step equals a T = 1 layer with the same weights (two native paths)."""
    rng = np.random.default_rng(seed)
    cell = {"lstm": lstmx.LSTMCell, "gru": lstmx.GRUCell, "rnn": lstmx.RNNCell}[kind](
        I, H, dtype=np.float64, seed=seed)
    layer = KINDS[kind](I, H, dtype=np.float64)
    layer.load_state_dict({f"{k}_l0": v for k, v in cell.state_dict().items()})
    x = rng.standard_normal((B, I))
    h = rng.standard_normal((B, H))
    if kind == "lstm":
        c = rng.standard_normal((B, H))
        got = cell(x, (h, c))[0]
        want = layer(x[None], (h[None], c[None]))[0][0]
    else:
        got = cell(x, h)
        want = layer(x[None], h[None])[0][0]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# -- malformed arguments to the raw bindings -------------------------------------------------

def _array(draw, dims):
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64, np.float16]))
    shape = tuple(draw(st.integers(0, 4)) for _ in range(dims))
    arr = np.ones(shape, dtype)
    if draw(st.booleans()) and arr.ndim >= 2 and arr.shape[-1] > 1:
        arr = arr[..., ::2]  # not contiguous
    return arr


@st.composite
def raw_args(draw):
    def maybe(dims):
        choice = draw(st.integers(0, 5))
        if choice == 0:
            return None
        if choice == 1:
            return draw(st.sampled_from([3, "x", [1.0, 2.0]]))
        return _array(draw, dims if choice > 2 else draw(st.integers(0, 4)))
    return [maybe(d) for d in (3, 2, 2, 2, 2, 1, 1)]


@FUZZ
@given(st.sampled_from(["lstm", "gru", "rnn"]), raw_args())
def test_malformed_binding_calls_raise_cleanly(kind, args):
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = args
    params = {k: v for k, v in zip(("w_ih", "w_hh", "b_ih", "b_hh"), (w_ih, w_hh, b_ih, b_hh))
              if v is not None}
    try:
        out = _core.recurrent_forward(kind, x, h0, c0, params)
    except (TypeError, ValueError):
        return
    # accepted: then every argument was a well-formed array and the outputs are finite
    assert all(isinstance(a, np.ndarray) for a in (x, w_ih, w_hh))
    assert (b_ih is None) == (b_hh is None)
    assert np.all(np.isfinite(out[0]))


@FUZZ
@given(st.integers(1, 4), st.integers(1, 6), st.integers(1, 9), raw_args())
def test_malformed_attention_calls_raise_cleanly(B, S, A, args):
    keys = np.ones((B, S, A), np.float32)
    qp, v = args[1], args[5]
    try:
        scores, _ = _core.additive_scores(keys, qp, v)
    except (TypeError, ValueError):
        return
    assert scores.shape == (B, S)
