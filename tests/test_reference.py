"""Tests of the NumPy reference implementations in ``lstmx.reference``.

* Every gradient returned by the backward functions is compared with central
  finite differences of a random scalar loss
      L = sum(y * w_y) + sum(h_n * w_h) (+ sum(c_n * w_c)),
  for the sequence functions (with several kinds of ``lengths``) and the cells.
* Semantic checks of variable lengths, None states / gradients, dtypes, and
  that backward leaves its inputs alone.
* When torch is importable, parity with torch.nn.LSTM / GRU / RNN.

Everything is tiny (T=4, B=3, I=3, H=4) so the file runs in a few seconds.
"""

import numpy as np
import pytest

from lstmx.reference import (
    gru_backward,
    gru_cell_backward,
    gru_cell_forward,
    gru_forward,
    lstm_backward,
    lstm_cell_backward,
    lstm_cell_forward,
    lstm_forward,
    relu,
    relu_grad_from_output,
    rnn_backward,
    rnn_cell_backward,
    rnn_cell_forward,
    rnn_forward,
    sigmoid,
    sigmoid_grad_from_output,
    tanh,
    tanh_grad_from_output,
)

T, B, I, H = 4, 3, 3, 4
MODELS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
NUM_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
LENGTHS = {
    "none": None,
    "all_T": np.full(B, T),
    "all_1": np.ones(B, dtype=np.int64),
    "mixed": np.array([T, 1, 2]),  # one full-length, one length-1 sequence
}
SEEDS = {"lstm": 11, "gru": 22, "rnn_tanh": 33, "rnn_relu": 44}

EPS = 1e-6          # finite-difference step
RTOL = 1e-6         # allowed relative error ...
GRAD_FLOOR = 1e-2   # ... measured as |a - n| / max(|a|, |n|, GRAD_FLOOR)
RELU_MARGIN = 1e-3  # relu pre-activations must stay this far from the kink


def _nonlinearity(model):
    return "relu" if model == "rnn_relu" else "tanh"


# ---------------------------------------------------------------------------
# Uniform adapters over the three models
# ---------------------------------------------------------------------------


def state_names(model, sequence):
    names = ["h0", "c0"] if model == "lstm" else ["h0"]
    return names if sequence else [n[0] for n in names]  # h0 -> h, c0 -> c


def grad_names(model, sequence):
    return ["x"] + state_names(model, sequence) + ["w_ih", "w_hh", "b_ih", "b_hh"]


def seq_forward(model, p, lengths=None):
    """-> (outputs tuple, cache); outputs are (y, h_n) or (y, h_n, c_n)."""
    weights = (p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    if model == "lstm":
        y, h_n, c_n, cache = lstm_forward(p["x"], p["h0"], p["c0"], *weights, lengths=lengths)
        return (y, h_n, c_n), cache
    if model == "gru":
        y, h_n, cache = gru_forward(p["x"], p["h0"], *weights, lengths=lengths)
        return (y, h_n), cache
    y, h_n, cache = rnn_forward(
        p["x"], p["h0"], *weights, lengths=lengths, nonlinearity=_nonlinearity(model)
    )
    return (y, h_n), cache


def seq_backward(model, douts, cache):
    """douts aligned with the outputs of seq_forward -> tuple of gradients."""
    if model == "lstm":
        return lstm_backward(*douts, cache)
    if model == "gru":
        return gru_backward(*douts, cache)
    return rnn_backward(*douts, cache)


def cell_forward(model, p, lengths=None):
    """-> (outputs tuple, cache); outputs are (h_new,) or (h_new, c_new)."""
    assert lengths is None
    weights = (p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    if model == "lstm":
        h_new, c_new, cache = lstm_cell_forward(p["x"], p["h"], p["c"], *weights)
        return (h_new, c_new), cache
    if model == "gru":
        h_new, cache = gru_cell_forward(p["x"], p["h"], *weights)
        return (h_new,), cache
    h_new, cache = rnn_cell_forward(p["x"], p["h"], *weights, nonlinearity=_nonlinearity(model))
    return (h_new,), cache


def cell_backward(model, douts, cache):
    if model == "lstm":
        return lstm_cell_backward(*douts, cache)
    if model == "gru":
        return gru_cell_backward(*douts, cache)
    return rnn_cell_backward(*douts, cache)


def relu_margin(p, lengths, sequence):
    """Smallest |pre-activation| of the relu RNN over the steps that run."""
    def pre(x, h):
        return x @ p["w_ih"].T + p["b_ih"] + h @ p["w_hh"].T + p["b_hh"]

    if not sequence:
        return np.abs(pre(p["x"], p["h"])).min()
    (y, _), _ = seq_forward("rnn_relu", p, lengths)
    # for a running step t the previous state is h0 (t = 0) or y[t-1]
    h_prev = np.concatenate([p["h0"][None], y[:-1]], axis=0)
    a = pre(p["x"], h_prev)
    n = np.full(B, T) if lengths is None else np.asarray(lengths)
    keep = np.arange(T)[:, None] < n[None, :]
    return np.abs(a[keep]).min()


def make_params(model, seed, sequence=True, lengths=None, dtype=np.float64):
    """Random inputs and weights for one model, as a dict of arrays."""
    G = NUM_GATES[model]
    for attempt in range(100):
        rng = np.random.default_rng(1000 * seed + attempt)
        p = {"x": rng.standard_normal((T, B, I) if sequence else (B, I))}
        for name in state_names(model, sequence):
            p[name] = rng.uniform(-1, 1, (B, H))
        p["w_ih"] = rng.uniform(-0.7, 0.7, (G * H, I))
        p["w_hh"] = rng.uniform(-0.7, 0.7, (G * H, H))
        p["b_ih"] = rng.uniform(-0.5, 0.5, G * H)
        p["b_hh"] = rng.uniform(-0.5, 0.5, G * H)
        if model == "rnn_relu":
            # a few more live units, and no pre-activation near the kink
            p["b_ih"] += 0.3
            if relu_margin(p, lengths, sequence) < RELU_MARGIN:
                continue
        return {k: v.astype(dtype) for k, v in p.items()}
    raise RuntimeError("could not draw relu inputs away from the kink")


# ---------------------------------------------------------------------------
# Finite-difference machinery
# ---------------------------------------------------------------------------


def numerical_gradient(loss, params, name):
    """Central differences of loss(params) with respect to params[name]."""
    grad = np.zeros_like(params[name])
    for idx in np.ndindex(params[name].shape):
        shifted = dict(params)
        shifted[name] = params[name].copy()
        shifted[name][idx] += EPS
        plus = loss(shifted)
        shifted[name][idx] -= 2 * EPS
        minus = loss(shifted)
        grad[idx] = (plus - minus) / (2 * EPS)
    return grad


def assert_grad_close(label, name, analytic, numeric):
    assert analytic.shape == numeric.shape, (
        f"{label}: d{name} has shape {analytic.shape}, expected {numeric.shape}"
    )
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), GRAD_FLOOR)
    err = np.abs(analytic - numeric) / scale
    worst = tuple(int(i) for i in np.unravel_index(np.argmax(err), err.shape))
    assert err[worst] <= RTOL, (
        f"{label}: d{name}{list(worst)} analytic {analytic[worst]:.10g} vs "
        f"numeric {numeric[worst]:.10g} (relative error {err[worst]:.2e} > {RTOL})"
    )


def check_all_gradients(label, forward, backward, params, names, rng):
    outs, cache = forward(params)
    out_weights = [rng.standard_normal(o.shape) for o in outs]

    def loss(ps):
        return sum(np.sum(o * w) for o, w in zip(forward(ps)[0], out_weights))

    grads = backward(out_weights, cache)
    assert len(grads) == len(names)
    for name, g in zip(names, grads):
        assert_grad_close(label, name, g, numerical_gradient(loss, params, name))


# ---------------------------------------------------------------------------
# Gradient checks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(LENGTHS))
@pytest.mark.parametrize("model", MODELS)
def test_sequence_gradients(model, case):
    lengths = LENGTHS[case]
    params = make_params(model, SEEDS[model], sequence=True, lengths=lengths)
    rng = np.random.default_rng(SEEDS[model] + 7)
    check_all_gradients(
        f"{model} sequence, lengths={case}",
        lambda p: seq_forward(model, p, lengths),
        lambda d, c: seq_backward(model, d, c),
        params,
        grad_names(model, sequence=True),
        rng,
    )


@pytest.mark.parametrize("model", MODELS)
def test_cell_gradients(model):
    params = make_params(model, SEEDS[model] + 1, sequence=False)
    rng = np.random.default_rng(SEEDS[model] + 8)
    check_all_gradients(
        f"{model} cell",
        lambda p: cell_forward(model, p),
        lambda d, c: cell_backward(model, d, c),
        params,
        grad_names(model, sequence=False),
        rng,
    )


# ---------------------------------------------------------------------------
# Semantics of lengths, None arguments, dtypes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_outputs_past_the_end_are_zero(model):
    lengths = LENGTHS["mixed"]
    params = make_params(model, SEEDS[model], lengths=lengths)
    (y, *_), _ = seq_forward(model, params, lengths)
    for b, n in enumerate(lengths):
        assert np.all(y[n:, b] == 0), f"{model}: y[{n}:, {b}] is not zero"
        assert np.all(np.any(y[:n, b] != 0, axis=-1)), f"{model}: y[:{n}, {b}] has a zero row"


@pytest.mark.parametrize("model", MODELS)
def test_final_state_equals_truncated_run(model):
    lengths = LENGTHS["mixed"]
    params = make_params(model, SEEDS[model], lengths=lengths)
    (y, *finals), _ = seq_forward(model, params, lengths)
    for b, n in enumerate(lengths):
        alone = dict(params)
        alone["x"] = params["x"][:n, b : b + 1]
        for name in state_names(model, sequence=True):
            alone[name] = params[name][b : b + 1]
        (y_b, *finals_b), _ = seq_forward(model, alone, None)
        np.testing.assert_allclose(y[:n, b : b + 1], y_b, rtol=1e-12, atol=1e-14)
        for final, final_b in zip(finals, finals_b):
            np.testing.assert_allclose(final[b : b + 1], final_b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("model", MODELS)
def test_full_lengths_equal_no_lengths(model):
    params = make_params(model, SEEDS[model])
    outs_none, cache_none = seq_forward(model, params, None)
    outs_full, cache_full = seq_forward(model, params, LENGTHS["all_T"])
    for a, b in zip(outs_none, outs_full):
        np.testing.assert_array_equal(a, b)
    douts = [np.random.default_rng(5).standard_normal(o.shape) for o in outs_none]
    for a, b in zip(seq_backward(model, douts, cache_none), seq_backward(model, douts, cache_full)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("model", MODELS)
def test_sequence_matches_chained_cells(model):
    params = make_params(model, SEEDS[model])
    (y, *finals), _ = seq_forward(model, params, None)
    state = {name[0]: params[name] for name in state_names(model, sequence=True)}
    for t in range(T):
        step = dict(state, x=params["x"][t], w_ih=params["w_ih"], w_hh=params["w_hh"],
                    b_ih=params["b_ih"], b_hh=params["b_hh"])
        new_states, _ = cell_forward(model, step)
        state = dict(zip(state_names(model, sequence=False), new_states))
        np.testing.assert_array_equal(y[t], state["h"])
    for final, name in zip(finals, state_names(model, sequence=False)):
        np.testing.assert_array_equal(final, state[name])


@pytest.mark.parametrize("model", MODELS)
def test_none_states_and_gradients_mean_zeros(model):
    lengths = LENGTHS["mixed"]
    params = make_params(model, SEEDS[model], lengths=lengths)
    zeros = dict(params)
    nones = dict(params)
    for name in state_names(model, sequence=True):
        zeros[name] = np.zeros((B, H))
        nones[name] = None
    outs_z, cache_z = seq_forward(model, zeros, lengths)
    outs_n, cache_n = seq_forward(model, nones, lengths)
    for a, b in zip(outs_z, outs_n):
        np.testing.assert_array_equal(a, b)
    dy = np.random.default_rng(3).standard_normal((T, B, H))
    finals_zero = [np.zeros((B, H))] * (len(outs_z) - 1)
    finals_none = [None] * (len(outs_z) - 1)
    for a, b in zip(seq_backward(model, [dy, *finals_zero], cache_z),
                    seq_backward(model, [dy, *finals_none], cache_n)):
        np.testing.assert_array_equal(a, b)

    # cells: missing incoming gradients are zeros too
    cparams = make_params(model, SEEDS[model] + 1, sequence=False)
    outs, cache = cell_forward(model, cparams)
    dh = np.random.default_rng(4).standard_normal((B, H))
    with_zeros = cell_backward(model, [dh] + [np.zeros((B, H))] * (len(outs) - 1), cache)
    with_nones = cell_backward(model, [dh] + [None] * (len(outs) - 1), cache)
    for a, b in zip(with_zeros, with_nones):
        np.testing.assert_array_equal(a, b)
    all_none = cell_backward(model, [None] * len(outs), cache)
    for g in all_none:
        assert not np.any(g)


@pytest.mark.parametrize("model", MODELS)
def test_float32_in_float32_out(model):
    lengths = LENGTHS["mixed"]
    p64 = make_params(model, SEEDS[model], lengths=lengths)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    outs32, cache32 = seq_forward(model, p32, lengths)
    outs64, _ = seq_forward(model, p64, lengths)
    douts = [np.ones(o.shape, dtype=np.float32) for o in outs32]
    grads32 = seq_backward(model, douts, cache32)
    for name, a in zip(["y", "h_n", "c_n"], outs32):
        assert a.dtype == np.float32, f"{model}: {name} is {a.dtype}"
    for name, g in zip(grad_names(model, sequence=True), grads32):
        assert g.dtype == np.float32, f"{model}: d{name} is {g.dtype}"
    for a, b in zip(outs32, outs64):
        np.testing.assert_allclose(a, b, atol=1e-5)

    c64 = make_params(model, SEEDS[model] + 1, sequence=False)
    c32 = {k: v.astype(np.float32) for k, v in c64.items()}
    outs32, cache32 = cell_forward(model, c32)
    grads32 = cell_backward(model, [np.ones((B, H), np.float32)] * len(outs32), cache32)
    assert all(a.dtype == np.float32 for a in outs32)
    assert all(g.dtype == np.float32 for g in grads32)


@pytest.mark.parametrize("model", MODELS)
def test_backward_does_not_modify_its_inputs(model):
    lengths = LENGTHS["mixed"]
    params = make_params(model, SEEDS[model], lengths=lengths)
    originals = {k: v.copy() for k, v in params.items()}
    outs, cache = seq_forward(model, params, lengths)
    rng = np.random.default_rng(6)
    douts = [rng.standard_normal(o.shape) for o in outs]
    douts_copy = [d.copy() for d in douts]
    first = seq_backward(model, douts, cache)
    second = seq_backward(model, douts, cache)  # the cache must still be intact
    for d, d0 in zip(douts, douts_copy):
        np.testing.assert_array_equal(d, d0)
    for k in params:
        np.testing.assert_array_equal(params[k], originals[k])
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)

    cparams = make_params(model, SEEDS[model] + 1, sequence=False)
    outs, cache = cell_forward(model, cparams)
    douts = [rng.standard_normal(o.shape) for o in outs]
    douts_copy = [d.copy() for d in douts]
    first = cell_backward(model, douts, cache)
    second = cell_backward(model, douts, cache)
    for d, d0 in zip(douts, douts_copy):
        np.testing.assert_array_equal(d, d0)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [[0, 1, 2], [1, T + 1, 2], [1, 2]])
def test_invalid_lengths_are_rejected(bad):
    params = make_params("gru", SEEDS["gru"])
    with pytest.raises(ValueError):
        seq_forward("gru", params, np.array(bad))


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_stable_and_keeps_dtype(dtype):
    x = np.array([-1e4, -1000.0, -50.0, -1.0, 0.0, 1.0, 50.0, 1000.0, 1e4], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = sigmoid(x)
    assert s.dtype == dtype
    assert np.all(np.isfinite(s))
    assert s[0] == 0 and s[-1] == 1 and s[4] == 0.5
    np.testing.assert_allclose(s[3:6], 1 / (1 + np.exp(-x[3:6].astype(np.float64))), rtol=1e-6)
    for f in (tanh, relu):
        assert f(x).dtype == dtype


def test_activation_derivatives_from_output():
    x = np.linspace(-3, 3, 13) + 0.05  # avoid relu's kink at 0
    for f, df in [(sigmoid, sigmoid_grad_from_output),
                  (tanh, tanh_grad_from_output),
                  (relu, relu_grad_from_output)]:
        numeric = (f(x + EPS) - f(x - EPS)) / (2 * EPS)
        np.testing.assert_allclose(df(f(x)), numeric, rtol=1e-7, atol=1e-9)


# ---------------------------------------------------------------------------
# Parity with PyTorch (skipped when torch is not installed)
# ---------------------------------------------------------------------------


def torch_module(torch, model, p):
    if model == "lstm":
        module = torch.nn.LSTM(I, H)
    elif model == "gru":
        module = torch.nn.GRU(I, H)
    else:
        module = torch.nn.RNN(I, H, nonlinearity=_nonlinearity(model))
    module = module.double()
    with torch.no_grad():
        for name in ["w_ih", "w_hh", "b_ih", "b_hh"]:
            kind, which = name.split("_")
            getattr(module, f"{'weight' if kind == 'w' else 'bias'}_{which}_l0").copy_(
                torch.from_numpy(p[name])
            )
    return module


def torch_run(torch, model, p, lengths=None):
    """Torch forward + backward of the same loss; returns (outs, grads) as numpy."""
    module = torch_module(torch, model, p)
    x = torch.from_numpy(p["x"]).requires_grad_()
    states = [torch.from_numpy(p[n][None]).requires_grad_() for n in state_names(model, True)]
    hx = tuple(states) if model == "lstm" else states[0]
    if lengths is None:
        y, finals = module(x, hx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.as_tensor(lengths, dtype=torch.int64), enforce_sorted=False
        )
        y_packed, finals = module(packed, hx)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(y_packed, total_length=T)
    finals = list(finals) if model == "lstm" else [finals]
    outs = [y] + [f[0] for f in finals]
    rng = np.random.default_rng(9)
    weights = [rng.standard_normal(tuple(o.shape)) for o in outs]
    loss = sum((o * torch.from_numpy(w)).sum() for o, w in zip(outs, weights))
    loss.backward()
    grads = [x.grad] + [s.grad[0] for s in states] + [
        module.weight_ih_l0.grad, module.weight_hh_l0.grad,
        module.bias_ih_l0.grad, module.bias_hh_l0.grad,
    ]
    to_np = lambda t: t.detach().numpy()
    return [to_np(o) for o in outs], [to_np(g) for g in grads], weights


@pytest.mark.parametrize("model", MODELS)
def test_torch_parity(model):
    torch = pytest.importorskip("torch")
    params = make_params(model, SEEDS[model])
    t_outs, t_grads, weights = torch_run(torch, model, params)
    outs, cache = seq_forward(model, params, None)
    grads = seq_backward(model, weights, cache)
    for name, a, b in zip(["y", "h_n", "c_n"], outs, t_outs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"{model} {name}")
    for name, a, b in zip(grad_names(model, True), grads, t_grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"{model} d{name}")


@pytest.mark.parametrize("model", MODELS)
def test_torch_parity_packed_lengths(model):
    torch = pytest.importorskip("torch")
    lengths = LENGTHS["mixed"]
    params = make_params(model, SEEDS[model], lengths=lengths)
    t_outs, t_grads, weights = torch_run(torch, model, params, lengths)
    outs, cache = seq_forward(model, params, lengths)
    grads = seq_backward(model, weights, cache)
    for name, a, b in zip(["y", "h_n", "c_n"], outs, t_outs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"{model} {name}")
    for name, a, b in zip(grad_names(model, True), grads, t_grads):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"{model} d{name}")
