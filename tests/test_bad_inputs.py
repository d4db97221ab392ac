"""Bad inputs raise a clear error that names the argument, before any work starts.

* Layers (LSTM, GRU, RNN): every refused call leaves the layer as it was: parameters and
  grads untouched, and the last training forward still backpropagates to the same result.
* Constructors and load_state_dict.
* The raw binding ``lstmx._core``: its own checks (contiguity, shapes, dtypes, int64
  lengths, workspace keys).
* What is not an error: a non-contiguous x (copied once, same result), NaN in x (propagates).
* Cells (LSTMCell, GRUCell, RNNCell).
"""

import re

import numpy as np
import pytest

import lstmx
from conftest import reference_params
from lstmx import _core

T, B, I, H = 5, 3, 4, 5
LAYERS = ["lstm", "gru", "rnn"]
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def make_layer(kind, dtype=np.float32, **kw):
    cls = {"lstm": lstmx.LSTM, "gru": lstmx.GRU, "rnn": lstmx.RNN}[kind]
    return cls(I, H, dtype=dtype, seed=7, **kw)


def good_inputs(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((T, B, I)).astype(dtype),
        "h0": rng.standard_normal((1, B, H)).astype(dtype),
        "c0": rng.standard_normal((1, B, H)).astype(dtype),
        "lengths": np.array([T, 1, 3], dtype=np.int64),
        "dy": rng.standard_normal((T, B, H)).astype(dtype),
        "dh_n": rng.standard_normal((1, B, H)).astype(dtype),
        "dc_n": rng.standard_normal((1, B, H)).astype(dtype),
    }


def forward(layer, x, h0=None, c0=None, lengths=None):
    if isinstance(layer, lstmx.LSTM):
        return layer(x, (h0, c0), lengths=lengths)
    return layer(x, h0, lengths=lengths)


def backward(layer, dy, dh_n=None, dc_n=None):
    if isinstance(layer, lstmx.LSTM):
        return layer.backward(dy, (dh_n, dc_n))
    return layer.backward(dy, dh_n)


def flat(result):
    """The arrays of a forward or backward result, nested tuples flattened."""
    if isinstance(result, tuple):
        return [a for r in result for a in flat(r)]
    return [result]


def good_backward(layer, g):
    return flat(backward(layer, g["dy"], g["dh_n"], g["dc_n"]))


def assert_refused(kind, bad_call, exc, match):
    """After a good training forward, ``bad_call(layer)`` raises ``exc`` matching ``match``
    and changes nothing: parameters and grads as before, and the kept forward still gives
    the backward of a layer that never saw the bad call."""
    g = good_inputs()
    reference = make_layer(kind)
    forward(reference, g["x"], g["h0"], g["c0"], g["lengths"])
    want = good_backward(reference, g)

    layer = make_layer(kind)
    before = {n: p.data.copy() for n, p in layer.named_parameters()}
    forward(layer, g["x"], g["h0"], g["c0"], g["lengths"])
    with pytest.raises(exc, match=match):
        bad_call(layer, g)
    for name, p in layer.named_parameters():
        np.testing.assert_array_equal(p.data, before[name], err_msg=f"{kind}: {name} changed")
        assert not np.any(p.grad), f"{kind}: {name}.grad changed by a refused call"
    got = good_backward(layer, g)
    for i, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(a, b, err_msg=f"{kind}: backward output {i} after the refusal")


# ---------------------------------------------------------------------------
# Layers: forward arguments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LAYERS)
def test_x_not_an_ndarray(kind):
    assert_refused(kind, lambda l, g: forward(l, g["x"].tolist()), TypeError,
                   "x must be a numpy.ndarray, got list")


@pytest.mark.parametrize("kind", LAYERS)
def test_x_float64_into_float32_layer_is_not_cast(kind):
    assert_refused(kind, lambda l, g: forward(l, g["x"].astype(np.float64)), TypeError,
                   re.escape("x has dtype float64, expected float32 (the layer's dtype); "
                             "lstmx does not cast silently"))


@pytest.mark.parametrize("kind", LAYERS)
def test_x_float32_into_float64_layer_is_not_cast(kind):
    layer = make_layer(kind, dtype=np.float64)
    with pytest.raises(TypeError, match="x has dtype float32, expected float64"):
        forward(layer, good_inputs()["x"])


@pytest.mark.parametrize("kind", LAYERS)
def test_x_wrong_rank(kind):
    assert_refused(kind, lambda l, g: forward(l, g["x"][0]), ValueError,
                   re.escape("x must have shape (T, B, input_size=4), got (3, 4)"))


@pytest.mark.parametrize("kind", LAYERS)
def test_x_wrong_feature_size(kind):
    assert_refused(kind, lambda l, g: forward(l, np.zeros((T, B, I + 2), np.float32)), ValueError,
                   re.escape("x must have shape (T, B, input_size=4), got (5, 3, 6)"))


@pytest.mark.parametrize("kind", LAYERS)
def test_x_batch_first_wrong_feature_size_names_the_layout(kind):
    layer = make_layer(kind, batch_first=True)
    with pytest.raises(ValueError, match=re.escape("x must have shape (B, T, input_size=4)")):
        forward(layer, np.zeros((B, T, I + 1), np.float32))


@pytest.mark.parametrize("kind", LAYERS)
def test_x_without_steps(kind):
    assert_refused(kind, lambda l, g: forward(l, g["x"][:0]), ValueError,
                   r"x must have at least one step and one sequence, got shape \(0, 3, 4\)")


@pytest.mark.parametrize("kind", LAYERS)
def test_h0_wrong_shape(kind):
    def call(layer, g):
        forward(layer, g["x"], g["h0"][:, :2], g["c0"])
    assert_refused(kind, call, ValueError,
                   re.escape("h0 must have shape (num_layers * num_directions, B, H) = (1, 3, 5), "
                             "got (1, 2, 5)"))


@pytest.mark.parametrize("kind", LAYERS)
def test_h0_without_layer_axis(kind):
    assert_refused(kind, lambda l, g: forward(l, g["x"], g["h0"][0], g["c0"]), ValueError,
                   r"h0 must have shape .* got \(3, 5\)")


def test_c0_wrong_shape():
    def call(layer, g):
        forward(layer, g["x"], g["h0"], np.zeros((1, B, H + 1), np.float32))
    assert_refused("lstm", call, ValueError, re.escape("c0 must have shape (num_layers"))


@pytest.mark.parametrize("kind", LAYERS)
def test_h0_wrong_dtype(kind):
    def call(layer, g):
        forward(layer, g["x"], g["h0"].astype(np.float64), g["c0"])
    assert_refused(kind, call, TypeError, "h0 has dtype float64, expected float32")


def test_c0_wrong_dtype():
    def call(layer, g):
        forward(layer, g["x"], g["h0"], g["c0"].astype(np.float16))
    assert_refused("lstm", call, TypeError, "c0 has dtype float16, expected float32")


@pytest.mark.parametrize("kind", LAYERS)
def test_lengths_wrong_shape(kind):
    def call(layer, g):
        forward(layer, g["x"], lengths=np.array([T, 2], np.int64))
    assert_refused(kind, call, ValueError,
                   re.escape("lengths must have shape (B,) = (3,), got (2,)"))


@pytest.mark.parametrize("kind", LAYERS)
def test_lengths_float_dtype(kind):
    def call(layer, g):
        forward(layer, g["x"], lengths=np.array([5.0, 2.0, 1.0]))
    assert_refused(kind, call, TypeError, "lengths must hold integers, got dtype float64")


@pytest.mark.parametrize("kind", LAYERS)
def test_lengths_zero(kind):
    def call(layer, g):
        forward(layer, g["x"], lengths=np.array([5, 0, 1]))
    assert_refused(kind, call, ValueError,
                   re.escape("lengths[1]=0 is below 1; every sequence needs at least one step"))


@pytest.mark.parametrize("kind", LAYERS)
def test_lengths_beyond_sequence(kind):
    def call(layer, g):
        forward(layer, g["x"], lengths=np.array([5, 9, 1]))
    assert_refused(kind, call, ValueError,
                   re.escape("lengths[1]=9 exceeds sequence length T=5"))


# ---------------------------------------------------------------------------
# Layers: backward arguments and order
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LAYERS)
def test_dy_wrong_hidden_size(kind):
    def call(layer, g):
        backward(layer, np.zeros((T, B, H + 1), np.float32))
    assert_refused(kind, call, ValueError,
                   re.escape("dy must have shape (T, B, hidden_size=5), got (5, 3, 6)"))


@pytest.mark.parametrize("kind", LAYERS)
def test_dy_wrong_steps(kind):
    def call(layer, g):
        backward(layer, g["dy"][:-1])
    assert_refused(kind, call, ValueError,
                   re.escape("dy must match the forward output, (T, B) = (5, 3), got (4, 3)"))


@pytest.mark.parametrize("kind", LAYERS)
def test_dy_wrong_dtype(kind):
    def call(layer, g):
        backward(layer, g["dy"].astype(np.float64))
    assert_refused(kind, call, TypeError, "dy has dtype float64, expected float32")


@pytest.mark.parametrize("kind", LAYERS)
def test_dh_n_wrong_shape(kind):
    def call(layer, g):
        backward(layer, g["dy"], g["dh_n"][:, :1])
    assert_refused(kind, call, ValueError, re.escape("dh_n must have shape (num_layers"))


def test_dc_n_wrong_shape():
    def call(layer, g):
        backward(layer, g["dy"], g["dh_n"], g["dc_n"][:, :, :2])
    assert_refused("lstm", call, ValueError, re.escape("dc_n must have shape (num_layers"))


@pytest.mark.parametrize("kind", LAYERS)
def test_backward_before_forward(kind):
    layer = make_layer(kind)
    with pytest.raises(RuntimeError, match=r"backward\(\) needs a forward\(\) in training mode"):
        backward(layer, good_inputs()["dy"])


@pytest.mark.parametrize("kind", LAYERS)
def test_backward_after_eval_forward(kind):
    layer = make_layer(kind).eval()
    g = good_inputs()
    forward(layer, g["x"])
    with pytest.raises(RuntimeError, match=r"eval\(\) forwards keep nothing for backward"):
        backward(layer, g["dy"])


@pytest.mark.parametrize("kind", LAYERS)
def test_eval_drops_the_kept_training_forward(kind):
    layer = make_layer(kind)
    g = good_inputs()
    forward(layer, g["x"])
    layer.eval()
    with pytest.raises(RuntimeError, match=r"backward\(\) needs a forward\(\)"):
        backward(layer, g["dy"])


# ---------------------------------------------------------------------------
# Constructors and load_state_dict
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("num_layers", [0, -1, 1.5])
def test_num_layers_must_be_positive_int(kind, num_layers):
    with pytest.raises(ValueError, match=re.escape(f"num_layers must be a positive integer, got {num_layers!r}")):
        make_layer(kind, num_layers=num_layers)


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("dropout", [-0.1, 1.0])
def test_dropout_must_be_a_probability(kind, dropout):
    with pytest.raises(ValueError, match=re.escape(f"dropout must lie in [0, 1), got {dropout!r}")):
        make_layer(kind, dropout=dropout)


@pytest.mark.parametrize("kind", LAYERS)
def test_stacked_bidirectional_state_shape(kind):
    layer = make_layer(kind, num_layers=2, bidirectional=True)
    x = np.zeros((T, B, I), np.float32)
    with pytest.raises(ValueError, match=re.escape(
            f"h0 must have shape (num_layers * num_directions, B, H) = (4, {B}, {H}), got (1, {B}, {H})")):
        h0 = np.zeros((1, B, H), np.float32)
        layer(x, (h0, None)) if kind == "lstm" else layer(x, h0)


def test_bad_nonlinearity():
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu' .*got 'softplus'"):
        lstmx.RNNCell(I, H, nonlinearity="softplus")
    with pytest.raises(ValueError, match="nonlinearity must be one of .*got 'softplus'"):
        lstmx.RNN(I, H, nonlinearity="softplus")


@pytest.mark.parametrize("cls", [lstmx.LSTM, lstmx.GRU, lstmx.RNN,
                                 lstmx.LSTMCell, lstmx.GRUCell, lstmx.RNNCell])
def test_constructor_dtype_must_be_float(cls):
    with pytest.raises(TypeError, match="dtype must be float32 or float64, got int32"):
        cls(I, H, dtype=np.int32)


@pytest.mark.parametrize("cls", [lstmx.LSTM, lstmx.GRU, lstmx.RNN,
                                 lstmx.LSTMCell, lstmx.GRUCell, lstmx.RNNCell])
@pytest.mark.parametrize("sizes,message", [
    ((0, H), "input_size must be a positive integer, got 0"),
    ((I, 2.5), "hidden_size must be a positive integer, got 2.5"),
])
def test_constructor_sizes_must_be_positive_integers(cls, sizes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        cls(*sizes)


@pytest.mark.parametrize("kind", LAYERS)
def test_load_state_dict_wrong_shape_changes_nothing(kind):
    layer = make_layer(kind)
    before = layer.state_dict()
    state = {name: np.full_like(v, 0.5) for name, v in before.items()}
    state["bias_hh_l0"] = np.zeros(GATES[kind] * H + 1, np.float32)  # the last one checked
    with pytest.raises(ValueError, match=re.escape(
            f"load_state_dict: bias_hh_l0 must have shape ({GATES[kind] * H},), "
            f"got ({GATES[kind] * H + 1},)")):
        layer.load_state_dict(state)
    for name, p in layer.named_parameters():
        np.testing.assert_array_equal(p.data, before[name], err_msg=f"{kind}: {name} was written")


@pytest.mark.parametrize("kind", LAYERS)
def test_load_state_dict_missing_or_unexpected_keys(kind):
    layer = make_layer(kind)
    before = layer.state_dict()
    state = {name: np.full_like(v, 0.5) for name, v in before.items()}
    del state["weight_hh_l0"]
    with pytest.raises(KeyError, match=re.escape("missing keys ['weight_hh_l0']")):
        layer.load_state_dict(state)
    state["weight_hh_l0"] = before["weight_hh_l0"]
    state["weight_ih_l1"] = before["weight_ih_l0"]
    with pytest.raises(KeyError, match=re.escape("unexpected keys ['weight_ih_l1']")):
        layer.load_state_dict(state)
    for name, p in layer.named_parameters():
        np.testing.assert_array_equal(p.data, before[name], err_msg=f"{kind}: {name} was written")


@pytest.mark.parametrize("n", [0, -3, 10**6])
def test_set_num_threads_out_of_range(n):
    old = lstmx.get_num_threads()
    with pytest.raises(ValueError, match=f"n must be between 1 and .*per CPU.*got {n}"):
        lstmx.set_num_threads(n)
    assert lstmx.get_num_threads() == old


@pytest.mark.parametrize("n", [-1, 10**9])
def test_raw_set_num_threads_out_of_range(n):
    """The binding refuses what would crash the OpenMP runtime, whoever calls it."""
    old = lstmx.get_num_threads()
    with pytest.raises(ValueError, match=r"n must be 0 \(automatic\) or between 1 and"):
        _core.set_num_threads(n)
    assert lstmx.get_num_threads() == old


@pytest.mark.parametrize("n", [2.0, "2", True])
def test_set_num_threads_not_an_int(n):
    with pytest.raises(TypeError, match="n must be an int or None"):
        lstmx.set_num_threads(n)


# ---------------------------------------------------------------------------
# The raw binding lstmx._core
# ---------------------------------------------------------------------------


def raw_case(kind, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    G = GATES[kind]
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    return dict(x=r(T, B, I), h0=r(B, H), c0=r(B, H), w_ih=r(G * H, I), w_hh=r(G * H, H),
                b_ih=r(G * H), b_hh=r(G * H), dy=r(T, B, H))


def raw_params(c):
    return {k: c[k] for k in ("w_ih", "w_hh", "b_ih", "b_hh")}


def raw_forward(kind, c, **kw):
    c0 = c["c0"] if kind == "lstm" else None
    return _core.recurrent_forward(kind, c["x"], c["h0"], c0, raw_params(c), **kw)


def raw_backward(kind, c, ws, lengths=None):
    return _core.recurrent_backward(kind, c["x"], raw_params(c), lengths, None, "tanh", 0.0,
                                    "sigmoid", False, 1e-5, ws, c["dy"], None)


@pytest.mark.parametrize("layout", ["strided", "fortran"])
@pytest.mark.parametrize("kind", LAYERS)
def test_raw_non_contiguous_x(kind, layout):
    c = raw_case(kind)
    if layout == "strided":
        c["x"] = np.repeat(c["x"], 2, axis=2)[:, :, ::2]
    else:
        c["x"] = np.asfortranarray(c["x"])
    assert not c["x"].flags.c_contiguous
    with pytest.raises(ValueError, match=r"x must be C-contiguous"):
        raw_forward(kind, c)


@pytest.mark.parametrize("kind", LAYERS)
def test_raw_w_ih_wrong_shape(kind):
    c = raw_case(kind)
    G = GATES[kind]
    c["w_ih"] = c["w_ih"][:, :-1].copy()
    with pytest.raises(ValueError, match=re.escape(
            f"params['w_ih'] must have shape (G*H, I) = ({G * H}, {I}), got ({G * H}, {I - 1})")):
        raw_forward(kind, c)


@pytest.mark.parametrize("kind", LAYERS)
def test_raw_w_hh_dtype_differs_from_x(kind):
    c = raw_case(kind)
    c["w_hh"] = c["w_hh"].astype(np.float32)
    with pytest.raises(TypeError, match=r"params\['w_hh'\] has dtype float32, expected float64 "
                                        r"\(the dtype of x\); lstmx does not cast silently"):
        raw_forward(kind, c)


@pytest.mark.parametrize("kind", LAYERS)
def test_raw_lengths_must_be_int64(kind):
    c = raw_case(kind)
    with pytest.raises(TypeError, match="lengths has dtype int32, expected int64"):
        raw_forward(kind, c, lengths=np.array([T, 1, 2], np.int32))


@pytest.mark.parametrize("kind", LAYERS)
def test_raw_lengths_beyond_sequence(kind):
    c = raw_case(kind)
    with pytest.raises(ValueError, match=re.escape("lengths[2]=6 exceeds sequence length T=5")):
        raw_forward(kind, c, lengths=np.array([T, 1, 6], np.int64))


@pytest.mark.parametrize("kind", LAYERS)
def test_raw_x_bad_type_dtype_rank(kind):
    c = raw_case(kind)
    x = c["x"]
    c["x"] = x.tolist()
    with pytest.raises(TypeError, match="x must be a numpy.ndarray, got list"):
        raw_forward(kind, c)
    c["x"] = x.astype(np.int64)
    with pytest.raises(TypeError, match="x has dtype int64, expected float32 or float64"):
        raw_forward(kind, c)
    c["x"] = x[0]
    with pytest.raises(ValueError, match=re.escape("x must have shape (T, B, I), got (3, 4)")):
        raw_forward(kind, c)


@pytest.mark.parametrize("kind", LAYERS)
def test_raw_h0_wrong_shape(kind):
    c = raw_case(kind)
    c["h0"] = c["h0"][None]
    with pytest.raises(ValueError, match=re.escape("h0 must have shape (B, R) = (3, 5), got (1, 3, 5)")):
        raw_forward(kind, c)


@pytest.mark.parametrize("kind,key", [("lstm", "cs"), ("lstm", "hs"), ("gru", "gates"),
                                      ("gru", "aux"), ("rnn", "hs")])
def test_raw_workspace_missing_a_key(kind, key):
    c = raw_case(kind)
    ws = raw_forward(kind, c)[-1]
    del ws[key]
    with pytest.raises(ValueError, match=f"workspace is missing '{key}': pass the workspace "
                                         "returned by the training forward"):
        raw_backward(kind, c, ws)


def test_raw_workspace_of_another_shape():
    c = raw_case("gru")
    ws = raw_forward("gru", c)[-1]
    ws["gates"] = ws["gates"][:-1].copy()
    with pytest.raises(ValueError, match=re.escape("workspace['gates'] must have shape (T, B, G*H)")):
        raw_backward("gru", c, ws)


def test_raw_bad_activation():
    c = raw_case("rnn")
    with pytest.raises(ValueError, match="activation must be one of 'tanh', .*got 'gelu'"):
        raw_forward("rnn", c, activation="gelu")


# ---------------------------------------------------------------------------
# Not errors: non-contiguous input, NaN
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LAYERS)
def test_layer_copies_non_contiguous_x(kind):
    g = good_inputs()
    wide = np.repeat(g["x"], 2, axis=2)          # (T, B, 2I): every feature twice
    x_strided = wide[:, :, ::2]
    h0_strided = np.repeat(g["h0"], 2, axis=2)[:, :, 1::2]
    assert not x_strided.flags.c_contiguous and not h0_strided.flags.c_contiguous
    np.testing.assert_array_equal(x_strided, g["x"])

    results = []
    for x, h0 in [(x_strided, h0_strided), (np.ascontiguousarray(x_strided), g["h0"])]:
        layer = make_layer(kind)
        out = flat(forward(layer, x, h0, g["c0"], g["lengths"]))
        grads = good_backward(layer, g)
        results.append(out + grads + [p.grad for p in layer.parameters()])
    for i, (a, b) in enumerate(zip(*results)):
        np.testing.assert_array_equal(a, b, err_msg=f"{kind}: result {i}, strided vs contiguous")


@pytest.mark.parametrize("kind,nonlinearity", [("lstm", None), ("gru", None),
                                               ("rnn", "tanh"), ("rnn", "relu")])
def test_nan_in_x_propagates(kind, nonlinearity):
    kw = {"nonlinearity": nonlinearity} if nonlinearity else {}
    layer = make_layer(kind, dtype=np.float64, **kw)
    g = good_inputs(np.float64)
    x = g["x"].copy()
    x[2, 1, 0] = np.nan
    y = flat(forward(layer, x))[0]
    assert np.all(np.isnan(y[2:, 1])), f"{kind}: y[2:, 1] should be NaN, got {y[2:, 1]}"
    assert np.all(np.isfinite(y[:2, 1])), f"{kind}: y[:2, 1] should be finite, got {y[:2, 1]}"
    assert np.all(np.isfinite(y[:, [0, 2]])), f"{kind}: the other sequences got NaN"
    dx = flat(backward(layer, g["dy"]))[0]
    assert np.all(np.isfinite(dx[:, [0, 2]])), f"{kind}: NaN leaked into dx of other sequences"


# ---------------------------------------------------------------------------
# Cells
# ---------------------------------------------------------------------------

CELLS = {"lstm": lstmx.LSTMCell, "gru": lstmx.GRUCell, "rnn": lstmx.RNNCell}


def cell_forward(cell, x, h=None, c=None):
    if isinstance(cell, lstmx.LSTMCell):
        return cell(x, (h, c))
    return cell(x, h)


def cell_inputs(seed=3):
    rng = np.random.default_rng(seed)
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    return r(B, I), r(B, H), r(B, H), r(B, H)


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_x_wrong_dtype(kind):
    cell = CELLS[kind](I, H, seed=0)
    x, h, c, _ = cell_inputs()
    with pytest.raises(TypeError, match="x has dtype float64, expected float32"):
        cell_forward(cell, x.astype(np.float64), h, c)
    with pytest.raises(TypeError, match="x must be a numpy.ndarray, got list"):
        cell_forward(cell, x.tolist(), h, c)


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_x_wrong_shape(kind):
    cell = CELLS[kind](I, H, seed=0)
    x, h, c, _ = cell_inputs()
    with pytest.raises(ValueError, match=re.escape("x must have shape (B, input_size=4), got (3, 3)")):
        cell_forward(cell, x[:, :3], h, c)
    with pytest.raises(ValueError, match=re.escape("x must have shape (B, input_size=4), got (1, 3, 4)")):
        cell_forward(cell, x[None], h, c)


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_state_wrong_shape_or_dtype(kind):
    cell = CELLS[kind](I, H, seed=0)
    x, h, c, _ = cell_inputs()
    with pytest.raises(ValueError, match=re.escape("h must have shape (B, H) = (3, 5), got (2, 5)")):
        cell_forward(cell, x, h[:2], c)
    with pytest.raises(TypeError, match="h has dtype float64, expected float32"):
        cell_forward(cell, x, h.astype(np.float64), c)
    if kind == "lstm":
        with pytest.raises(ValueError, match=re.escape("c must have shape (B, H) = (3, 5), got (3, 4)")):
            cell_forward(cell, x, h, c[:, :4])
    with pytest.raises(RuntimeError):
        cell.backward(h)  # none of the refused forwards kept a step


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_backward_without_forward(kind):
    cell = CELLS[kind](I, H, seed=0)
    x, h, c, dh = cell_inputs()
    with pytest.raises(RuntimeError, match=r"backward\(\) needs a forward\(\) in training mode"):
        cell.backward(dh)
    cell.eval()
    cell_forward(cell, x, h, c)
    with pytest.raises(RuntimeError, match=r"backward\(\) needs a forward\(\)"):
        cell.backward(dh)


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_backward_wrong_gradient_shape(kind):
    cell = CELLS[kind](I, H, seed=0)
    x, h, c, dh = cell_inputs()
    cell_forward(cell, x, h, c)
    with pytest.raises(ValueError, match=re.escape("dh_new must have shape (B, H) = (3, 5), got (3, 6)")):
        cell.backward(np.zeros((B, H + 1), np.float32))


@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_refused_backward_keeps_the_step(kind):
    x, h, c, dh = cell_inputs()
    reference = CELLS[kind](I, H, seed=0)
    cell_forward(reference, x, h, c)
    want = flat(reference.backward(dh))

    cell = CELLS[kind](I, H, seed=0)
    cell_forward(cell, x, h, c)
    with pytest.raises(ValueError, match="dh_new must have shape"):
        cell.backward(np.zeros((B, H + 1), np.float32))
    got = flat(cell.backward(dh))
    for i, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(a, b, err_msg=f"{kind} cell: backward output {i}")


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_state_matches_the_reference(kind, value):
    """float32 with an infinite h0 entry: NaN and Inf where the NumPy reference has them and
    close values elsewhere (the vectorised exp gives exactly 0 and Inf past its range, as
    std::exp does, not large finite values)."""
    from lstmx import reference
    rng = np.random.default_rng(11)
    wide = 40  # hidden units: the gate math runs in full SIMD lanes
    layer = {"lstm": lstmx.LSTM, "gru": lstmx.GRU, "rnn": lstmx.RNN}[kind](I, wide, seed=7)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = rng.standard_normal((1, B, wide)).astype(np.float32)
    h0[0, 0, 3] = value
    c0 = np.zeros((1, B, wide), np.float32)
    got = flat(forward(layer, x, h0, c0 if kind == "lstm" else None))[0]
    args = (x, h0[0]) + ((c0[0],) if kind == "lstm" else ())
    with np.errstate(invalid="ignore"):  # the reference meets Inf - Inf and 0 * Inf too
        ref = getattr(reference, f"{kind}_forward")(*args, reference_params(layer))[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{kind}: NaN places")
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref), err_msg=f"{kind}: Inf places")
    finite = np.isfinite(ref)
    np.testing.assert_allclose(got[finite], ref[finite], rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------
# Constructor values, replaced parameters, state shapes (found by the trust review)
# ---------------------------------------------------------------------------

CELLS = {"lstm": lstmx.LSTMCell, "gru": lstmx.GRUCell, "rnn": lstmx.RNNCell}


@pytest.mark.parametrize("cls", [lstmx.LSTM, lstmx.GRU, lstmx.RNN, lstmx.LSTMCell,
                                 lstmx.GRUCell, lstmx.RNNCell])
@pytest.mark.parametrize("arg", ["input_size", "hidden_size"])
def test_a_bool_size_is_refused(cls, arg):
    sizes = {"input_size": 3, "hidden_size": 4, arg: True}
    with pytest.raises(ValueError, match=f"{arg} must be a positive integer, got True"):
        cls(sizes["input_size"], sizes["hidden_size"])


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_forget_bias_must_be_finite(value):
    with pytest.raises(ValueError, match="forget_bias must be a finite number"):
        lstmx.LSTM(3, 4, forget_bias=value)


@pytest.mark.parametrize("kind", LAYERS)
def test_a_replaced_weight_is_named(kind):
    layer = make_layer(kind)
    g = good_inputs()
    layer.weight_hh_l0.data = np.zeros((GATES[kind] * H, H + 1), np.float32)
    with pytest.raises(ValueError, match=r"weight_hh_l0 has shape \(\d+, 6\), expected \(\d+, 5\)"):
        forward(layer, g["x"])
    layer = make_layer(kind)
    layer.bias_ih_l0.data = layer.bias_ih_l0.data.astype(np.float64)
    with pytest.raises(TypeError, match="bias_ih_l0 has dtype float64, expected float32"):
        forward(layer, g["x"])


@pytest.mark.parametrize("kind", LAYERS)
def test_cells_refuse_replaced_float64_weights(kind):
    cell = CELLS[kind](I, H)
    cell.weight_ih.data = cell.weight_ih.data.astype(np.float64)
    with pytest.raises(TypeError, match="weight_ih has dtype float64, expected float32"):
        cell(np.zeros((2, I), np.float32))


def test_the_binding_names_a_bad_w_hh():
    x = np.zeros((2, 1, 3), np.float32)
    w_ih, w_hh = np.zeros((16, 3), np.float32), np.zeros((16, 5), np.float32)
    with pytest.raises(ValueError, match=re.escape("params['w_hh'] must have shape (G*H, R) = "
                                                   "(16, 4), got (16, 5)")):
        _core.recurrent_forward("lstm", x, None, None, {"w_ih": w_ih, "w_hh": w_hh})


@pytest.mark.parametrize("module", ["layer", "cell"])
def test_an_lstm_state_must_be_a_pair(module):
    g = good_inputs()
    if module == "layer":
        with pytest.raises(TypeError, match=r"state must be a pair \(h0, c0\) of arrays .*got an "
                                            r"array of shape \(1, 3, 5\)"):
            make_layer("lstm")(g["x"], g["h0"])
    else:
        with pytest.raises(TypeError, match=r"state must be a pair \(h, c\)"):
            lstmx.LSTMCell(I, H)(g["x"][0], g["h0"][0])


@pytest.mark.parametrize("kind", LAYERS)
def test_inputs_changed_after_forward_do_not_change_the_gradients(kind):
    """x and lengths are copied by a training forward: a caller refilling its arrays before
    backward gets the gradients of what was actually run."""
    g = good_inputs()
    results = []
    for mutate in (False, True):
        layer = make_layer(kind)
        x, lengths = g["x"].copy(), g["lengths"].copy()
        forward(layer, x, lengths=lengths)
        if mutate:
            x += 1.0
            lengths[:] = 1
        results.append(good_backward(layer, g) + [p.grad for p in layer.parameters()])
    for i, (a, b) in enumerate(zip(*results)):
        np.testing.assert_array_equal(a, b, err_msg=f"{kind}: result {i}")


@pytest.fixture
def raw_write_detection():
    previous = lstmx.detect_raw_writes(True)
    yield
    lstmx.detect_raw_writes(previous)


@pytest.mark.parametrize("module", ["layer", "cell"])
@pytest.mark.parametrize("kind", LAYERS)
def test_raw_writes_into_weights_are_detected_when_asked(kind, module, raw_write_detection):
    """With detect_raw_writes on, a write into p.data between a training forward and its
    backward raises naming the parameter; a write before the forward (finite differences'
    perturb-and-recompute) does not."""
    g = good_inputs()
    m = make_layer(kind) if module == "layer" else CELLS[kind](I, H, seed=2)
    run = (lambda: forward(m, g["x"])) if module == "layer" else (lambda: m(g["x"][0]))
    back = (lambda: good_backward(m, g)) if module == "layer" else (lambda: m.backward())
    w_hh = m.weight_hh_l0 if module == "layer" else m.weight_hh
    w_hh.data[0, 0] += 1.0     # before the forward: fine
    run()
    back()
    run()
    w_hh.data[0, 0] += 1.0     # between forward and backward: refused
    with pytest.raises(RuntimeError, match=r"weight_hh\S* written in place \(p.data\[...\] = "
                                           r"...\) after the forward"):
        back()
    assert lstmx.detect_raw_writes(False)  # returns the setting it replaces
    run()                                  # off, the default: not seen (as torch's .data)
    w_hh.data[0, 0] += 1.0
    back()


@pytest.mark.parametrize("kind", LAYERS)
def test_cell_inputs_changed_after_forward_do_not_change_the_gradients(kind):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, I)).astype(np.float32)
    h = rng.standard_normal((2, H)).astype(np.float32)
    results = []
    for mutate in (False, True):
        cell = CELLS[kind](I, H, seed=2)
        xs, hs = x.copy(), h.copy()
        state = (hs, hs.copy()) if kind == "lstm" else hs
        cell(xs, state)
        if mutate:
            xs += 1.0
            hs += 1.0
        dh = np.ones((2, H), np.float32)
        out = cell.backward(dh)
        results.append([out[0], *(out[1] if kind == "lstm" else [out[1]])]
                       + [p.grad for p in cell.parameters()])
    for i, (a, b) in enumerate(zip(*results)):
        np.testing.assert_array_equal(a, b, err_msg=f"{kind} cell: result {i}")


@pytest.mark.parametrize("module", ["lstm", "gru", "rnn", "lstm-cell", "linear"])
@pytest.mark.parametrize("change", ["step", "load_state_dict"])
def test_weights_changed_after_forward_make_backward_raise(module, change):
    """An optimizer step (or load_state_dict) between a forward and its backward: the
    backward would mix new weights with the old activations, so it raises, naming them."""
    from lstmx.nn import Linear
    from lstmx.optim import SGD
    g = good_inputs()
    if module == "linear":
        m = Linear(I, H)
        out = m(g["x"][0])
    elif module == "lstm-cell":
        m = lstmx.LSTMCell(I, H)
        out = m(g["x"][0])[0]
    else:
        m = make_layer(module)
        out = flat(forward(m, g["x"]))[0]
    if change == "step":
        for p in m.parameters():
            p.grad[...] = 1.0
        SGD(m.parameters(), lr=0.1).step()
    else:
        m.load_state_dict(m.state_dict())
    with pytest.raises(RuntimeError, match="weight.* changed after the forward"):
        if module in LAYERS:
            backward(m, np.ones_like(out))
        else:
            m.backward(np.ones_like(out))
