"""Extended recurrent layers (issue 3): layer norm, recurrent and input dropout, activations,
projections. The native extended kernels (csrc/extended_sequence.cpp) against the NumPy
reference (python/lstmx/reference/extended.py) in float64 (≤ 1e-10) and float32 (≤ 1e-4),
the layers against central finite differences (float64), dropout reproducibility and eval
determinism, and the refusal of options that make no sense together."""

import numpy as np
import pytest

import lstmx
from lstmx import _core, reference
from conftest import TOL, assert_close

ACTS = ["tanh", "relu", "leaky_relu", "elu", "sigmoid"]
G = {"lstm": 4, "gru": 3, "rnn": 1}


def make_params(rng, cell, I, H, P, ln, bias, dtype):
    R = P or H
    g = G[cell]
    p = {"w_ih": rng.uniform(-.5, .5, (g * H, I)), "w_hh": rng.uniform(-.5, .5, (g * H, R))}
    if P:
        p["w_hr"] = rng.uniform(-.5, .5, (P, H))
    if ln:
        for k in ("ln_ih", "ln_hh"):
            p[k + "_w"] = 1 + 0.3 * rng.standard_normal(g * H)
            p[k + "_b"] = 0.3 * rng.standard_normal(g * H)
        if cell == "lstm":
            p["ln_c_w"] = 1 + 0.3 * rng.standard_normal(H)
            p["ln_c_b"] = 0.3 * rng.standard_normal(H)
    elif bias:
        p["b_ih"] = rng.uniform(-.3, .3, g * H)
        p["b_hh"] = rng.uniform(-.3, .3, g * H)
    return {k: v.astype(dtype) for k, v in p.items()}


CASES = []
for cell in ("lstm", "gru", "rnn"):
    for act in ACTS:
        for rec in (("sigmoid", "hard_sigmoid") if cell != "rnn" else ("sigmoid",)):
            for ln in ((False, True) if cell != "rnn" else (False,)):
                CASES.append((cell, act, rec, ln, 0, True))
CASES += [("lstm", "tanh", "sigmoid", False, 3, True), ("lstm", "tanh", "sigmoid", True, 3, True),
          ("lstm", "elu", "hard_sigmoid", True, 2, False), ("gru", "tanh", "sigmoid", False, 0, False)]


def case_id(c):
    cell, act, rec, ln, P, mask = c
    return f"{cell}-{act}-{rec}" + ("-ln" if ln else "") + (f"-proj{P}" if P else "")


def run_native(cell, x, h0, c0, p, lengths, mask, act, rec, ln, dy, dh_n, dc_n):
    kw = dict(activation=act, activation_param=0.1 if act == "leaky_relu" else 0.7,
              recurrent_activation=rec, layer_norm=ln, eps=1e-5)
    y, h_n, c_n, ws = _core.ext_forward(cell, x, h0, c0, p, lengths, mask, training=True, **kw)
    dx, dh0, dc0, grads = _core.ext_backward(cell, x, p, lengths, mask, workspace=ws, dy=dy,
                                             dh_n=dh_n, dc_n=dc_n, **kw)
    out = {"y": y, "h_n": h_n, "dx": dx, "dh0": dh0}
    if cell == "lstm":
        out.update(c_n=c_n, dc0=dc0)
    out.update({"d" + k: g for k, g in grads.items()})
    return out


def run_reference(cell, x, h0, c0, p, lengths, mask, act, rec, ln, dy, dh_n, dc_n):
    kw = dict(activation=act, activation_param=0.1 if act == "leaky_relu" else 0.7, rec_mask=mask)
    if cell != "rnn":
        kw.update(recurrent_activation=rec, layer_norm=ln)
    if cell == "lstm":
        y, h_n, c_n, cache = reference.lstm_forward_ex(x, h0, c0, p, lengths, **kw)
        dx, dh0, dc0, grads = reference.lstm_backward_ex(dy, dh_n, dc_n, cache)
        out = {"y": y, "h_n": h_n, "c_n": c_n, "dx": dx, "dh0": dh0, "dc0": dc0}
    elif cell == "gru":
        y, h_n, cache = reference.gru_forward_ex(x, h0, p, lengths, **kw)
        dx, dh0, grads = reference.gru_backward_ex(dy, dh_n, cache)
        out = {"y": y, "h_n": h_n, "dx": dx, "dh0": dh0}
    else:
        y, h_n, cache = reference.rnn_forward_ex(x, h0, p, lengths, **kw)
        dx, dh0, grads = reference.rnn_backward_ex(dy, dh_n, cache)
        out = {"y": y, "h_n": h_n, "dx": dx, "dh0": dh0}
    out.update({"d" + k: g for k, g in grads.items()})
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_native_matches_reference(case, dtype, rng):
    cell, act, rec, ln, P, use_mask = case
    T, B, I, H = 6, 5, 4, 9
    R = P or H
    p = make_params(rng, cell, I, H, P, ln, True, dtype)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    h0 = rng.uniform(-1, 1, (B, R)).astype(dtype)
    c0 = rng.uniform(-1, 1, (B, H)).astype(dtype) if cell == "lstm" else None
    lengths = np.array([6, 1, 4, 6, 2])
    mask = ((rng.random((B, R)) > 0.3) / 0.7).astype(dtype) if use_mask else None
    dy = rng.standard_normal((T, B, R)).astype(dtype)
    dh_n = rng.standard_normal((B, R)).astype(dtype)
    dc_n = rng.standard_normal((B, H)).astype(dtype) if cell == "lstm" else None
    args = (cell, x, h0, c0, p, lengths, mask, act, rec, ln, dy, dh_n, dc_n)
    got, want = run_native(*args), run_reference(*args)
    assert set(got) == set(want), f"native gives {sorted(got)}, reference {sorted(want)}"
    for name in want:
        assert got[name].dtype == dtype, name
        assert_close(f"{case_id(case)} {name}", got[name], want[name], TOL[dtype])


# ---------------------------------------------------------------------------
# Layers: finite differences through stacks, directions, masks
# ---------------------------------------------------------------------------

LAYER_CONFIGS = [
    ("lstm", dict(layer_norm=True, num_layers=2, bidirectional=True)),
    ("lstm", dict(layer_norm=True, proj_size=3, bidirectional=True)),
    ("lstm", dict(recurrent_dropout=0.3, input_dropout=0.2, num_layers=2, dropout=0.25)),
    ("lstm", dict(activation="elu", recurrent_activation="hard_sigmoid", num_layers=2)),
    ("gru", dict(layer_norm=True, num_layers=2, bidirectional=True, recurrent_dropout=0.3)),
    ("gru", dict(activation="leaky_relu", activation_param=0.2)),
    ("rnn", dict(nonlinearity="sigmoid", recurrent_dropout=0.4, bidirectional=True)),
]


def make_layer(cell, I, H, **kw):
    cls = {"lstm": lstmx.LSTM, "gru": lstmx.GRU, "rnn": lstmx.RNN}[cell]
    return cls(I, H, dtype=np.float64, seed=3, **kw)


def loss_and_grads(layer, cell, x, lengths, wy, wh, mask_seed):
    """L = Σ y·wy + Σ h_n·wh, with the dropout generator re-seeded so every call draws the
    same masks."""
    layer._dropout_rng = np.random.default_rng(mask_seed)
    out = layer(x, None, lengths=lengths)
    y, h_n = (out[0], out[1][0]) if cell == "lstm" else out
    return float((y * wy).sum() + (h_n * wh).sum()), y, h_n


@pytest.mark.parametrize("cell,kw", LAYER_CONFIGS,
                         ids=[f"{c}-{'-'.join(f'{k}={v}' for k, v in kw.items())}"
                              for c, kw in LAYER_CONFIGS])
def test_layer_finite_differences(cell, kw, rng):
    T, B, I, H = 5, 3, 4, 6
    layer = make_layer(cell, I, H, **kw)
    x = rng.standard_normal((T, B, I))
    lengths = np.array([5, 2, 4])
    L0, y, h_n = loss_and_grads(layer, cell, x, lengths, 0, 0, 0)
    wy, wh = rng.standard_normal(y.shape), rng.standard_normal(h_n.shape)
    layer.zero_grad()
    loss_and_grads(layer, cell, x, lengths, wy, wh, 7)
    dx = layer.backward(wy, (wh, None) if cell == "lstm" else wh)[0]
    eps = 1e-6
    checks = [("x", x, dx)] + [(n, p.data, p.grad) for n, p in layer.named_parameters()]
    for name, arr, grad in checks:
        for _ in range(3):
            idx = tuple(int(rng.integers(0, s)) for s in arr.shape)
            old = arr[idx]
            arr[idx] = old + eps
            lp = loss_and_grads(layer, cell, x, lengths, wy, wh, 7)[0]
            arr[idx] = old - eps
            lm = loss_and_grads(layer, cell, x, lengths, wy, wh, 7)[0]
            arr[idx] = old
            num = (lp - lm) / (2 * eps)
            assert abs(num - grad[idx]) <= 1e-6 * max(1.0, abs(num)), (
                f"{name}{list(idx)}: finite difference {num:.10g}, backward {grad[idx]:.10g}")


# ---------------------------------------------------------------------------
# Dropout: reproducible by seed, off in eval
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_dropout_masks_reproducible_and_eval_deterministic(cell, rng):
    I, H = 4, 8
    kw = dict(recurrent_dropout=0.5, input_dropout=0.3, num_layers=2, dropout=0.2)
    x = rng.standard_normal((6, 3, I)).astype(np.float32)
    a, b = make_layer(cell, I, H, **kw), make_layer(cell, I, H, **kw)
    for layer in (a, b):
        layer.load_state_dict(a.state_dict())
    x = x.astype(np.float64)
    ya, yb = a(x)[0], b(x)[0]
    np.testing.assert_array_equal(ya, yb, err_msg="same seed, same masks, same outputs")
    assert not np.array_equal(a(x)[0], ya), "a second training forward draws new masks"
    plain = make_layer(cell, I, H, num_layers=2)
    plain.load_state_dict(a.state_dict())
    a.eval()
    plain.eval()
    e1, e2 = a(x)[0], a(x)[0]
    np.testing.assert_array_equal(e1, e2, err_msg="eval is deterministic")
    np.testing.assert_allclose(e1, plain(x)[0], rtol=0, atol=1e-14,
                               err_msg="eval equals the dropout-free layer")
    assert not np.allclose(ya, e1), "training with dropout differs from eval"


def test_layer_norm_layer_matches_reference_stack(rng):
    """A 1-layer LN LSTM layer (float32, batch_first) equals the reference on its params."""
    I, H, T, B = 5, 8, 4, 3
    layer = lstmx.LSTM(I, H, layer_norm=True, batch_first=True, seed=1, forget_bias=1.0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    y, (h_n, c_n) = layer(x)
    params = {k: p.data for k, p in layer._ext_params("_l0").items()}
    assert params["ln_ih_b"][H:2 * H].tolist() == [1.0] * H, "forget_bias goes to ln_ih_bias"
    want, wh, wc, _ = reference.lstm_forward_ex(x.transpose(1, 0, 2), None, None, params,
                                                layer_norm=True)
    assert_close("y", y, want.transpose(1, 0, 2), 1e-4)
    assert_close("h_n", h_n[0], wh, 1e-4)
    assert_close("c_n", c_n[0], wc, 1e-4)


# ---------------------------------------------------------------------------
# Parameters and options that make no sense together
# ---------------------------------------------------------------------------

def test_parameter_names_and_shapes():
    lstm = lstmx.LSTM(3, 8, layer_norm=True, proj_size=4, bidirectional=True, num_layers=2)
    shapes = {n: p.shape for n, p in lstm.named_parameters()}
    assert shapes["weight_ih_l1"] == (32, 8)  # 2 directions × proj 4
    assert shapes["weight_hh_l0_reverse"] == (32, 4)
    assert shapes["weight_hr_l0"] == (4, 8)
    assert shapes["ln_ih_weight_l0"] == (32,) and shapes["ln_cell_bias_l1_reverse"] == (8,)
    assert not any(n.startswith("bias_") for n in shapes), "layer norm biases replace bias_*"
    y, (h, c) = lstm(np.zeros((2, 3, 3), np.float32))
    assert y.shape == (2, 3, 8) and h.shape == (4, 3, 4) and c.shape == (4, 3, 8)
    gru = lstmx.GRU(3, 5, layer_norm=True)
    assert sorted(n for n, _ in gru.named_parameters()) == sorted(
        ["weight_ih_l0", "weight_hh_l0", "ln_ih_weight_l0", "ln_ih_bias_l0",
         "ln_hh_weight_l0", "ln_hh_bias_l0"])


@pytest.mark.parametrize("ctor,message", [
    (lambda: lstmx.GRU(3, 5, proj_size=2), "proj_size applies to LSTM only"),
    (lambda: lstmx.LSTM(3, 5, proj_size=5), "proj_size must be smaller than hidden_size=5"),
    (lambda: lstmx.LSTM(3, 5, proj_size=-1), "proj_size must be a non-negative integer"),
    (lambda: lstmx.RNN(3, 5, layer_norm=True), "unexpected keyword|layer_norm applies"),
    (lambda: lstmx.LSTM(3, 5, layer_norm=True, bias=False), "layer_norm carries its own biases"),
    (lambda: lstmx.LSTM(3, 5, activation="softsign"), "activation must be one of"),
    (lambda: lstmx.GRU(3, 5, recurrent_activation="tanh"), "recurrent_activation must be one of"),
    (lambda: lstmx.LSTM(3, 5, recurrent_dropout=1.0), r"recurrent_dropout must lie in \[0, 1\)"),
    (lambda: lstmx.LSTM(3, 5, input_dropout=-0.1), r"input_dropout must lie in \[0, 1\)"),
    (lambda: lstmx.LSTM(3, 5, activation_param=0.3), "activation_param is the slope"),
])
def test_bad_option_combinations(ctor, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ctor()


def test_kernel_refuses_bad_params():
    x = np.zeros((2, 1, 3))
    p = {"w_ih": np.zeros((20, 3)), "w_hh": np.zeros((20, 5)), "b_ih": np.zeros(20)}
    with pytest.raises(ValueError, match="both 'b_ih' and 'b_hh', or neither"):
        _core.ext_forward("lstm", x, None, None, p)
    p["b_hh"] = np.zeros(20, np.float32)
    with pytest.raises(TypeError, match=r"params\['b_hh'\] has dtype float32, expected float64"):
        _core.ext_forward("lstm", x, None, None, p)
    p["b_hh"] = np.zeros(20)
    with pytest.raises(ValueError, match=r"rec_mask must have shape \(B, R\) = \(1, 5\)"):
        _core.ext_forward("lstm", x, None, None, p, None, np.ones((1, 4)))
    with pytest.raises(ValueError, match="unknown key 'w_xx'"):
        _core.ext_forward("lstm", x, None, None, dict(p, w_xx=np.zeros(1)))


# ---------------------------------------------------------------------------
# Single-step cells with the same options
# ---------------------------------------------------------------------------

CELL_CASES = [
    ("lstm", dict(layer_norm=True)),
    ("lstm", dict(activation="relu", recurrent_activation="hard_sigmoid")),
    ("gru", dict(layer_norm=True, activation="elu")),
    ("rnn", dict(nonlinearity="leaky_relu", activation_param=0.2)),
]


@pytest.mark.parametrize("cell,kw", CELL_CASES, ids=[f"{c}-{sorted(k.items())}" for c, k in CELL_CASES])
def test_cells_step_like_the_layer(cell, kw, rng):
    """A 3-step chain of extended cells equals the extended layer with the same weights, and
    their reverse-order backward equals the layer's backward."""
    I, H, T, B = 4, 6, 3, 2
    lkw = dict(kw)
    if cell == "rnn":
        layer = lstmx.RNN(I, H, dtype=np.float64, seed=1, **lkw)
        c = lstmx.RNNCell(I, H, dtype=np.float64, seed=2, **lkw)
    else:
        layer = {"lstm": lstmx.LSTM, "gru": lstmx.GRU}[cell](I, H, dtype=np.float64, seed=1, **lkw)
        c = {"lstm": lstmx.LSTMCell, "gru": lstmx.GRUCell}[cell](I, H, dtype=np.float64, seed=2, **lkw)
    c.load_state_dict({n[:-3]: p.data for n, p in layer.named_parameters()})
    x = rng.standard_normal((T, B, I))
    dy = rng.standard_normal((T, B, H))
    out = layer(x)
    y = out[0]
    layer.backward(dy)
    state = None
    hs = []
    for t in range(T):
        state = c(x[t], state)
        hs.append(state[0] if cell == "lstm" else state)
    np.testing.assert_allclose(np.stack(hs), y, rtol=1e-12, atol=1e-12)
    dh = np.zeros((B, H))
    dc = np.zeros((B, H))
    dxs = []
    for t in reversed(range(T)):
        if cell == "lstm":
            dx, (dh, dc) = c.backward(dh + dy[t], dc)
        else:
            dx, dh = c.backward(dh + dy[t])
        dxs.append(dx)
    for n, p in layer.named_parameters():
        np.testing.assert_allclose(c._parameters[n[:-3]].grad, p.grad, rtol=1e-10, atol=1e-12,
                                   err_msg=n)


# ---------------------------------------------------------------------------
# Review findings: pickled arrays, useless or inconsistent configurations
# ---------------------------------------------------------------------------

def test_pickled_arrays_are_accepted(rng):
    """An unpickled array has an equal dtype that is another object (multiprocessing)."""
    import pickle
    layer = lstmx.LSTM(3, 4, layer_norm=True, seed=0)
    layer = pickle.loads(pickle.dumps(layer))
    x = pickle.loads(pickle.dumps(rng.standard_normal((2, 1, 3)).astype(np.float32)))
    y, _ = layer(x)
    plain = pickle.loads(pickle.dumps(lstmx.GRU(3, 4, seed=0)))
    assert y.shape == (2, 1, 4) and plain(x)[0].shape == (2, 1, 4)


def test_layer_norm_needs_two_units():
    for ctor in (lambda: lstmx.LSTM(3, 1, layer_norm=True), lambda: lstmx.GRUCell(3, 1, layer_norm=True)):
        with pytest.raises(ValueError, match="layer_norm needs hidden_size >= 2"):
            ctor()


def test_second_backward_raises(rng):
    layer = lstmx.LSTM(3, 4, layer_norm=True)
    y, _ = layer(rng.standard_normal((2, 1, 3)).astype(np.float32))
    layer.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="needs a forward"):
        layer.backward(np.ones_like(y))


def test_kernel_refuses_negative_activation_param():
    x = np.zeros((2, 1, 3))
    p = {"w_ih": np.zeros((4, 3)), "w_hh": np.zeros((4, 4))}
    with pytest.raises(ValueError, match="activation_param must be finite and >= 0"):
        _core.ext_forward("rnn", x, None, None, p, activation="leaky_relu", activation_param=-0.1)
    with pytest.raises(ValueError, match="belong to LSTM only"):
        _core.ext_forward("gru", np.zeros((2, 1, 3)), None, None,
                          {"w_ih": np.zeros((12, 3)), "w_hh": np.zeros((12, 4)),
                           "ln_ih_w": np.ones(12), "ln_ih_b": np.zeros(12),
                           "ln_hh_w": np.ones(12), "ln_hh_b": np.zeros(12),
                           "ln_c_w": np.ones(4), "ln_c_b": np.zeros(4)}, layer_norm=True)
