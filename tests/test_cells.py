"""Single steps: the Cython cell kernels (lstmx._cells, over src/cells/) and the cells built on
them (LSTMCell, GRUCell, RNNCell), each option against the reference (a T=1 sequence, which
is its cell step), in float64 (rel ≤ 1e-10) and float32 (rel ≤ 1e-4); NaN propagation; a
chain of cell steps against the layer."""

import numpy as np
import pytest

import lstmx
from lstmx import _cells
from lstmx.nn.options import kernel_params
from conftest import (GATES, RECURRENT_OPTIONS, TOL, assert_all_close, cell_options,
                      named_results, recurrent_case, run_reference)

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
SIZES = pytest.mark.parametrize("B,H", [(1, 5), (4, 19), (7, 70)])


def codes(cell, opts):
    kw = dict(act_kind=_cells.ACT_CODES[opts["activation"]], param=opts["activation_param"])
    return kw if cell == "rnn" else kw | {"rec": _cells.ACT_CODES[opts["recurrent_activation"]]}


LN_KEYS = ["ln_ih_w", "ln_ih_b", "ln_hh_w", "ln_hh_b", "ln_c_w", "ln_c_b"]


def cython_step(cell, a, opts, threads):
    """Forward and backward of one step by the Cython kernel (the layer-normalised one with
    layer_norm), the products around it and the dropout mask in NumPy; the inference forward
    must give the same h."""
    p, x, h, c, m = a["params"], a["x"][0], a["h0"], a["c0"], opts["rec_mask"]
    hm = h if m is None else m * h
    gx = x @ p["w_ih"].T + p.get("b_ih", 0)
    gh = hm @ p["w_hh"].T + p.get("b_hh", 0)
    kw, grads, c_new, dc, direct = codes(cell, opts), {}, None, None, 0
    if cell == "rnn":
        h_new = _cells.rnn_step_forward(gx, gh, threads, **kw)
        dgx = dgh = _cells.rnn_step_backward(a["dh_n"], h_new, threads, **kw)
    else:
        ln, lstm = opts["layer_norm"], cell == "lstm"
        norm = (tuple(p[k] for k in LN_KEYS[:6 if lstm else 4]), opts["eps"]) if ln else ()
        name = cell + "_ln" * ln + "_step_"
        state = c if lstm else h

        def forward(training):  # the LN steps normalise gx, gh in place
            return getattr(_cells, name + "forward")(gx.copy(), gh.copy(), state, *norm,
                                                     training, threads, **kw)

        h_new, *saved = forward(True)
        assert np.array_equal(forward(False)[0], h_new), "inference step differs from training"
        if lstm:
            c_new, *saved = saved
        douts = (a["dh_n"], a["dc_n"]) if lstm else (a["dh_n"],)
        back = getattr(_cells, name + "backward")(*douts, state, *saved, *norm, threads, **kw)
        if ln:
            *back, ln_grads = back
            grads = dict(zip(LN_KEYS, ln_grads))
        if lstm:
            dgx, dgh, dc = back if ln else (back[0], back[0], back[1])
        else:
            dgx, dgh, direct = back
    dhm = dgh @ p["w_hh"]
    grads |= {"w_ih": dgx.T @ x, "w_hh": dgh.T @ hm}
    if "b_ih" in p:
        grads |= {"b_ih": dgx.sum(axis=0), "b_hh": dgh.sum(axis=0)}
    dh = direct + (dhm if m is None else m * dhm)
    return named_results(h_new[None], h_new, c_new, (dgx @ p["w_ih"])[None], dh, dc, grads)


@pytest.mark.parametrize("threads", [1, 2])
@DTYPES
@SIZES
@pytest.mark.parametrize("cell,option", cell_options(exclude=["proj"]))
def test_cython_steps_match_reference(cell, option, B, H, dtype, threads, rng):
    a, opts = recurrent_case(rng, cell, (1, B, 6, H), dtype, **RECURRENT_OPTIONS[option])
    a["dy"] = None  # the step's output gradient is dh_n
    assert_all_close(f"{cell} {option} step", cython_step(cell, a, opts, threads),
                     run_reference(cell, a, opts), TOL[dtype], dtype)


def make(cell, option, I, H, dtype, seed, suffix="Cell"):
    """lstmx.{LSTM,GRU,RNN}Cell (or the layer, suffix="") with the options."""
    o = dict(RECURRENT_OPTIONS[option])
    if cell == "rnn":
        o["nonlinearity"] = o.pop("activation", "tanh")
    return getattr(lstmx, cell.upper() + suffix)(I, H, dtype=dtype, seed=seed, **o)


@DTYPES
@SIZES
@pytest.mark.parametrize("cell,option", cell_options(exclude=["mask", "proj"]))
def test_cells_match_reference(cell, option, B, H, dtype, rng):
    """The modules, layer-normalised cells (one engine step) included."""
    a, opts = recurrent_case(rng, cell, (1, B, 6, H), dtype, **RECURRENT_OPTIONS[option])
    module = make(cell, option, 6, H, dtype, 1)
    params = kernel_params(module._parameters)
    a.update(dy=None, params={k: p.data for k, p in params.items()})
    if cell == "lstm":
        h, c = module(a["x"][0], (a["h0"], a["c0"]))
        dx, (dh, dc) = module.backward(a["dh_n"], a["dc_n"])
    else:
        h, c, dc = module(a["x"][0], a["h0"]), None, None
        dx, dh = module.backward(a["dh_n"])
    got = named_results(h[None], h, c, dx[None], dh, dc, {k: p.grad for k, p in params.items()})
    assert_all_close(f"{cell} {option} cell", got, run_reference(cell, a, opts), TOL[dtype], dtype)


@pytest.mark.parametrize("cell,act,rec", [
    (cell, act, rec) for cell in GATES for act in ["tanh", "relu", "leaky_relu", "elu", "sigmoid"]
    for rec in (["sigmoid"] if cell == "rnn" else ["sigmoid", "hard_sigmoid"])])
def test_step_kernels_keep_nan(cell, act, rec, rng):
    """NaN in a pre-activation propagates through the fused gate math (the gates' and the
    candidate's activations both), and stays in its row."""
    B, H = 2, 8
    G = GATES[cell]
    opts = dict(activation=act, activation_param=0.1, recurrent_activation=rec)
    for gate in range(G):
        gx, gh = rng.standard_normal((B, G * H)), rng.standard_normal((B, G * H))
        gx[0, gate * H] = np.nan
        state = np.zeros((B, H))
        if cell == "lstm":
            h, c = _cells.lstm_step_forward(gx, gh, state, False, 1, **codes(cell, opts))[:2]
            assert np.isnan(c[0, 0]) or gate == 3, f"gate {gate}: c keeps the NaN"
        elif cell == "gru":
            h = _cells.gru_step_forward(gx, gh, state, False, 1, **codes(cell, opts))[0]
        else:
            h = _cells.rnn_step_forward(gx, gh, 1, **codes(cell, opts))
        assert np.isnan(h[0, 0]), f"{cell} {act} {rec}: NaN in gate {gate} lost"
        assert np.all(np.isfinite(h[1])), f"{cell} {act} {rec}: NaN of row 0 reached row 1"


@pytest.mark.parametrize("cell,option", cell_options(exclude=["mask", "proj"]))
def test_cells_step_like_the_layer(cell, option, rng):
    """A 3-step chain of cells equals the layer with the same weights (float64), and their
    reverse-order backward equals the layer's backward: dx and every parameter gradient."""
    I, H, T, B = 4, 6, 3, 2
    layer = make(cell, option, I, H, np.float64, 1, suffix="")
    module = make(cell, option, I, H, np.float64, 2)
    module.load_state_dict({n[:-3]: p.data for n, p in layer.named_parameters()})
    x, dy = rng.standard_normal((T, B, I)), rng.standard_normal((T, B, H))
    y = layer(x)[0]
    dx_layer = layer.backward(dy)[0]
    state, hs = None, []
    for t in range(T):
        state = module(x[t], state)
        hs.append(state[0] if cell == "lstm" else state)
    np.testing.assert_allclose(np.stack(hs), y, rtol=1e-12, atol=1e-12)
    dh, dc, dxs = np.zeros((B, H)), np.zeros((B, H)), []
    for t in reversed(range(T)):
        if cell == "lstm":
            dx, (dh, dc) = module.backward(dh + dy[t], dc)
        else:
            dx, dh = module.backward(dh + dy[t])
        dxs.insert(0, dx)
    np.testing.assert_allclose(np.stack(dxs), dx_layer, rtol=1e-10, atol=1e-12, err_msg="dx")
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(module._parameters[n[:-3]].grad, p.grad, rtol=1e-10, atol=1e-12,
                                   err_msg=n)
