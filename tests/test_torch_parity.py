"""lstmx layers and cells vs PyTorch: same weights (through ``load_state_dict``), same inputs.

For LSTM, GRU and RNN (tanh, relu), float64 (rel ≤ 1e-10) and float32 (rel ≤ 1e-4), with
relative error = max|a - b| / max|b|:

* whole sequences: y, h_n (c_n) and the gradients dx, dh0 (dc0) and every parameter's grad,
  without lengths and with mixed lengths (torch through ``pack_padded_sequence``), time-major
  and batch-first, at a small batch (panel path) and a larger one (BLAS path), with and
  without biases;
* single-step cells: one step, and a 3-step chain whose backward runs in reverse order;
* state_dict round trips lstmx -> torch -> lstmx.

The whole file is skipped when torch is not installed.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lstmx  # noqa: E402
from conftest import TOL, assert_close  # noqa: E402

KINDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
DTYPES = [np.float64, np.float32]
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
SEEDS = {"lstm": 101, "gru": 202, "rnn_tanh": 303, "rnn_relu": 404}

# (T, B, I, H, mixed lengths): B <= 4 takes the native small-batch panel path, B = 7 the BLAS
# path; H = 19 is not a multiple of the 16-unit blocks. Every lengths holds a T and a 1.
SHAPES = {
    "small_batch": (5, 4, 6, 7, [5, 1, 3, 2]),
    "blas_batch": (4, 7, 5, 19, [4, 1, 2, 4, 3, 1, 2]),
}


def _nonlinearity(kind):
    return "relu" if kind == "rnn_relu" else "tanh"


def torch_layer(kind, I, H, dtype, **kw):
    if kind == "lstm":
        module = torch.nn.LSTM(I, H, **kw)
    elif kind == "gru":
        module = torch.nn.GRU(I, H, **kw)
    else:
        module = torch.nn.RNN(I, H, nonlinearity=_nonlinearity(kind), **kw)
    return module.to(TORCH_DTYPE[dtype])


def lstmx_layer(kind, I, H, dtype, seed=0, **kw):
    if kind == "lstm":
        return lstmx.LSTM(I, H, dtype=dtype, seed=seed, **kw)
    if kind == "gru":
        return lstmx.GRU(I, H, dtype=dtype, seed=seed, **kw)
    return lstmx.RNN(I, H, nonlinearity=_nonlinearity(kind), dtype=dtype, seed=seed, **kw)


def torch_state_as_numpy(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def load_from_torch(layer, module):
    """Load torch's state_dict (as NumPy) into ``layer``; it must load as is, bit for bit."""
    state = torch_state_as_numpy(module)
    layer.load_state_dict(state)
    assert [n for n, _ in layer.named_parameters()] == list(state), (
        f"parameter names {[n for n, _ in layer.named_parameters()]}, torch has {list(state)}")
    for name, p in layer.named_parameters():
        assert p.dtype == state[name].dtype, f"{name}: dtype {p.dtype}, torch {state[name].dtype}"
        np.testing.assert_array_equal(p.data, state[name], err_msg=f"{name} after load_state_dict")


def make_inputs(kind, shape, dtype, batch_first, seed):
    """x, initial states, and the loss weights dy, d(final states) as NumPy arrays."""
    T, B, I, H, _ = shape
    rng = np.random.default_rng(seed)
    n_states = 2 if kind == "lstm" else 1
    seq = (B, T) if batch_first else (T, B)
    x = rng.standard_normal((*seq, I)).astype(dtype)
    states = [rng.uniform(-1, 1, (1, B, H)).astype(dtype) for _ in range(n_states)]
    dy = rng.standard_normal((*seq, H)).astype(dtype)
    dfinals = [rng.standard_normal((1, B, H)).astype(dtype) for _ in range(n_states)]
    return x, states, dy, dfinals


def run_torch(module, kind, x, states, lengths, dy, dfinals, batch_first):
    """Forward and backward of L = sum(y*dy) + sum(h_n*dh_n) (+ sum(c_n*dc_n)) in torch."""
    T = x.shape[1] if batch_first else x.shape[0]
    xt = torch.from_numpy(x.copy()).requires_grad_()
    st = [torch.from_numpy(s.copy()).requires_grad_() for s in states]
    hx = tuple(st) if kind == "lstm" else st[0]
    if lengths is None:
        y, finals = module(xt, hx)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.as_tensor(lengths, dtype=torch.int64), batch_first=batch_first,
            enforce_sorted=False)
        y_packed, finals = module(packed, hx)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(
            y_packed, batch_first=batch_first, total_length=T)
    finals = list(finals) if kind == "lstm" else [finals]
    loss = (y * torch.from_numpy(dy)).sum()
    for f, d in zip(finals, dfinals):
        loss = loss + (f * torch.from_numpy(d)).sum()
    module.zero_grad()
    loss.backward()
    result = {"y": y, "h_n": finals[0], "dx": xt.grad, "dh0": st[0].grad}
    if kind == "lstm":
        result.update(c_n=finals[1], dc0=st[1].grad)
    for name, p in module.named_parameters():
        result[name] = p.grad
    return {k: v.detach().numpy() for k, v in result.items()}


def run_lstmx(layer, kind, x, states, lengths, dy, dfinals):
    layer.zero_grad()
    if kind == "lstm":
        y, (h_n, c_n) = layer(x, tuple(states), lengths=lengths)
        dx, (dh0, dc0) = layer.backward(dy, tuple(dfinals))
        result = {"y": y, "h_n": h_n, "c_n": c_n, "dx": dx, "dh0": dh0, "dc0": dc0}
    else:
        y, h_n = layer(x, states[0], lengths=lengths)
        dx, dh0 = layer.backward(dy, dfinals[0])
        result = {"y": y, "h_n": h_n, "dx": dx, "dh0": dh0}
    for name, p in layer.named_parameters():
        result[name] = p.grad.copy()
    return result


def assert_same(label, got, want, dtype):
    assert set(got) == set(want), f"{label}: lstmx gives {sorted(got)}, torch {sorted(want)}"
    for name in want:
        assert got[name].dtype == dtype, f"{label} {name}: dtype {got[name].dtype}"
        assert_close(f"{label} {name}", got[name], want[name], TOL[dtype])


# ---------------------------------------------------------------------------
# Whole sequences
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True], ids=["time_major", "batch_first"])
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "packed"])
@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("kind", KINDS)
def test_sequence_matches_torch(kind, dtype, shape_name, with_lengths, batch_first):
    shape = SHAPES[shape_name]
    T, B, I, H, mixed = shape
    torch.manual_seed(SEEDS[kind])
    module = torch_layer(kind, I, H, dtype, batch_first=batch_first)
    layer = lstmx_layer(kind, I, H, dtype, seed=SEEDS[kind] + 1, batch_first=batch_first)
    load_from_torch(layer, module)

    lengths = np.array(mixed, dtype=np.int64) if with_lengths else None
    x, states, dy, dfinals = make_inputs(kind, shape, dtype, batch_first, SEEDS[kind] + 2)
    want = run_torch(module, kind, x, states, lengths, dy, dfinals, batch_first)
    got = run_lstmx(layer, kind, x, states, lengths, dy, dfinals)
    assert_same(f"{kind} {np.dtype(dtype)} {shape_name} lengths={lengths} "
                f"batch_first={batch_first}", got, want, dtype)


@pytest.mark.parametrize("kind", KINDS)
def test_sequence_without_bias_matches_torch(kind):
    shape = SHAPES["small_batch"]
    T, B, I, H, mixed = shape
    torch.manual_seed(SEEDS[kind] + 10)
    module = torch_layer(kind, I, H, np.float64, bias=False)
    layer = lstmx_layer(kind, I, H, np.float64, bias=False)
    load_from_torch(layer, module)
    lengths = np.array(mixed, dtype=np.int64)
    x, states, dy, dfinals = make_inputs(kind, shape, np.float64, False, SEEDS[kind] + 11)
    want = run_torch(module, kind, x, states, lengths, dy, dfinals, False)
    got = run_lstmx(layer, kind, x, states, lengths, dy, dfinals)
    assert_same(f"{kind} bias=False", got, want, np.float64)


# ---------------------------------------------------------------------------
# Single-step cells
# ---------------------------------------------------------------------------


def cell_pair(kind, I, H, dtype, seed):
    torch.manual_seed(seed)
    if kind == "lstm":
        module, cell = torch.nn.LSTMCell(I, H), lstmx.LSTMCell(I, H, dtype=dtype, seed=seed)
    elif kind == "gru":
        module, cell = torch.nn.GRUCell(I, H), lstmx.GRUCell(I, H, dtype=dtype, seed=seed)
    else:
        nl = _nonlinearity(kind)
        module = torch.nn.RNNCell(I, H, nonlinearity=nl)
        cell = lstmx.RNNCell(I, H, nonlinearity=nl, dtype=dtype, seed=seed)
    module = module.to(TORCH_DTYPE[dtype])
    load_from_torch(cell, module)
    return module, cell


@pytest.mark.parametrize("steps", [1, 3], ids=["one_step", "three_step_chain"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("kind", KINDS)
def test_cell_steps_match_torch(kind, dtype, steps):
    """``steps`` chained cell calls; lstmx runs the backward calls last step first, each one
    popping its step, and carries dh (dc) from one to the next."""
    B, I, H = 3, 5, 6
    module, cell = cell_pair(kind, I, H, dtype, SEEDS[kind] + 20)
    rng = np.random.default_rng(SEEDS[kind] + 21)
    lstm = kind == "lstm"
    xs = [rng.standard_normal((B, I)).astype(dtype) for _ in range(steps)]
    h0 = rng.uniform(-1, 1, (B, H)).astype(dtype)
    c0 = rng.uniform(-1, 1, (B, H)).astype(dtype)
    dhs = [rng.standard_normal((B, H)).astype(dtype) for _ in range(steps)]
    dcs = [rng.standard_normal((B, H)).astype(dtype) for _ in range(steps)]

    # torch: L = sum_t sum(h_t * dh_t) (+ sum(c_t * dc_t))
    xts = [torch.from_numpy(x.copy()).requires_grad_() for x in xs]
    ht = h0t = torch.from_numpy(h0.copy()).requires_grad_()
    ct = c0t = torch.from_numpy(c0.copy()).requires_grad_()
    loss = 0
    want = {}
    for t in range(steps):
        if lstm:
            ht, ct = module(xts[t], (ht, ct))
            loss = loss + (ct * torch.from_numpy(dcs[t])).sum()
            want[f"c_{t + 1}"] = ct
        else:
            ht = module(xts[t], ht)
        loss = loss + (ht * torch.from_numpy(dhs[t])).sum()
        want[f"h_{t + 1}"] = ht
    loss.backward()
    want.update({f"dx_{t}": xts[t].grad for t in range(steps)}, dh0=h0t.grad)
    if lstm:
        want["dc0"] = c0t.grad
    want.update({name: p.grad for name, p in module.named_parameters()})
    want = {k: v.detach().numpy() for k, v in want.items()}

    got = {}
    h, c = h0, c0
    for t in range(steps):
        if lstm:
            h, c = cell(xs[t], (h, c))
            got[f"c_{t + 1}"] = c
        else:
            h = cell(xs[t], h)
        got[f"h_{t + 1}"] = h
    carry_h, carry_c = np.zeros_like(h0), np.zeros_like(c0)
    for t in reversed(range(steps)):
        if lstm:
            dx, (carry_h, carry_c) = cell.backward(dhs[t] + carry_h, dcs[t] + carry_c)
        else:
            dx, carry_h = cell.backward(dhs[t] + carry_h)
        got[f"dx_{t}"] = dx
    got["dh0"] = carry_h
    if lstm:
        got["dc0"] = carry_c
    got.update({name: p.grad.copy() for name, p in cell.named_parameters()})

    assert_same(f"{kind} cell {np.dtype(dtype)} {steps} step(s)", got, want, dtype)
    with pytest.raises(RuntimeError, match=r"backward\(\) needs a forward\(\)"):
        cell.backward(dhs[0])  # every step was popped


# ---------------------------------------------------------------------------
# state_dict round trips
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_round_trip(kind, dtype):
    """lstmx -> torch gives torch the very same weights and outputs; torch -> a fresh lstmx
    layer gives bit-identical outputs to the original."""
    shape = SHAPES["small_batch"]
    T, B, I, H, mixed = shape
    layer = lstmx_layer(kind, I, H, dtype, seed=SEEDS[kind] + 30)
    state = layer.state_dict()
    torch.manual_seed(0)
    module = torch_layer(kind, I, H, dtype)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    back = torch_state_as_numpy(module)
    assert list(back) == list(state)
    for name in state:
        np.testing.assert_array_equal(back[name], state[name], err_msg=f"torch's {name}")

    lengths = np.array(mixed, dtype=np.int64)
    x, states, dy, dfinals = make_inputs(kind, shape, dtype, False, SEEDS[kind] + 31)
    want = run_torch(module, kind, x, states, lengths, dy, dfinals, False)
    got = run_lstmx(layer, kind, x, states, lengths, dy, dfinals)
    assert_same(f"{kind} {np.dtype(dtype)} lstmx->torch", got, want, dtype)

    again = lstmx_layer(kind, I, H, dtype, seed=SEEDS[kind] + 32)
    load_from_torch(again, module)
    got_again = run_lstmx(again, kind, x, states, lengths, dy, dfinals)
    for name in got:
        np.testing.assert_array_equal(got_again[name], got[name],
                                      err_msg=f"{kind}: {name} after lstmx -> torch -> lstmx")


# ---------------------------------------------------------------------------
# Stacked and bidirectional layers
# ---------------------------------------------------------------------------


def make_stack_inputs(kind, T, B, I, H, L, D, dtype, seed):
    rng = np.random.default_rng(seed)
    n_states = 2 if kind == "lstm" else 1
    x = rng.standard_normal((T, B, I)).astype(dtype)
    states = [rng.uniform(-1, 1, (L * D, B, H)).astype(dtype) for _ in range(n_states)]
    dy = rng.standard_normal((T, B, D * H)).astype(dtype)
    dfinals = [rng.standard_normal((L * D, B, H)).astype(dtype) for _ in range(n_states)]
    return x, states, dy, dfinals


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("with_lengths", [False, True], ids=["no_lengths", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh"])
def test_stacked_bidirectional_matches_torch(kind, num_layers, bidirectional, with_lengths, dtype):
    T, B, I, H = 5, 4, 6, 7
    D = 2 if bidirectional else 1
    lengths = np.array([5, 1, 3, 2]) if with_lengths else None
    torch.manual_seed(SEEDS[kind] + num_layers)
    module = torch_layer(kind, I, H, dtype, num_layers=num_layers, bidirectional=bidirectional)
    layer = lstmx_layer(kind, I, H, dtype, num_layers=num_layers, bidirectional=bidirectional)
    load_from_torch(layer, module)
    x, states, dy, dfinals = make_stack_inputs(kind, T, B, I, H, num_layers, D, dtype, 7)
    want = run_torch(module, kind, x, states, lengths, dy, dfinals, batch_first=False)
    got = run_lstmx(layer, kind, x, states, lengths, dy, dfinals)
    assert_same(f"{kind} L={num_layers} D={D} lengths={with_lengths}", got, want, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("with_lengths", [False, True], ids=["no_lengths", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_lstm_projection_matches_torch(num_layers, bidirectional, with_lengths, dtype):
    """proj_size: weight_hr_l{k} (P, H), h and y of width P, c of width H."""
    T, B, I, H, P = 5, 4, 6, 7, 3
    D = 2 if bidirectional else 1
    lengths = np.array([5, 1, 3, 2]) if with_lengths else None
    torch.manual_seed(505 + num_layers)
    module = torch.nn.LSTM(I, H, num_layers=num_layers, bidirectional=bidirectional,
                           proj_size=P).to(TORCH_DTYPE[dtype])
    layer = lstmx.LSTM(I, H, num_layers=num_layers, bidirectional=bidirectional, proj_size=P,
                       dtype=dtype, seed=0)
    load_from_torch(layer, module)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    states = [rng.uniform(-1, 1, (num_layers * D, B, w)).astype(dtype) for w in (P, H)]
    dy = rng.standard_normal((T, B, D * P)).astype(dtype)
    dfinals = [rng.standard_normal((num_layers * D, B, w)).astype(dtype) for w in (P, H)]
    want = run_torch(module, "lstm", x, states, lengths, dy, dfinals, batch_first=False)
    got = run_lstmx(layer, "lstm", x, states, lengths, dy, dfinals)
    assert_same(f"lstm proj L={num_layers} D={D} lengths={with_lengths}", got, want, dtype)
