"""The Module API of the layers (LSTM, GRU, RNN) and cells (LSTMCell, GRUCell, RNNCell).

* parameters: names, shapes, dtypes; bias=False; seeds; zero_grad; accumulation; state_dict;
* modes and layouts: eval() vs training forward, batch_first vs time-major;
* threads: 1 vs 2 threads agree, get/set_num_threads, build_info;
* a float64 central finite-difference check of the native layers with mixed lengths.
"""

import numpy as np
import pytest

import lstmx
from conftest import assert_close, finite_difference

LAYER_KINDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def make_layer(kind, I=4, H=5, dtype=np.float64, seed=0, **kw):
    if kind == "lstm":
        return lstmx.LSTM(I, H, dtype=dtype, seed=seed, **kw)
    if kind == "gru":
        return lstmx.GRU(I, H, dtype=dtype, seed=seed, **kw)
    nl = "relu" if kind == "rnn_relu" else "tanh"
    return lstmx.RNN(I, H, nonlinearity=nl, dtype=dtype, seed=seed, **kw)


def make_cell(kind, I=4, H=5, dtype=np.float64, seed=0, **kw):
    if kind == "lstm":
        return lstmx.LSTMCell(I, H, dtype=dtype, seed=seed, **kw)
    if kind == "gru":
        return lstmx.GRUCell(I, H, dtype=dtype, seed=seed, **kw)
    nl = "relu" if kind == "rnn_relu" else "tanh"
    return lstmx.RNNCell(I, H, nonlinearity=nl, dtype=dtype, seed=seed, **kw)


def sequence_data(kind, T, B, I, H, dtype, seed, batch_first=False):
    """x, states (1, B, H), and loss weights dy, d(final states)."""
    rng = np.random.default_rng(seed)
    n = 2 if kind == "lstm" else 1
    seq = (B, T) if batch_first else (T, B)
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    return r(*seq, I), [r(1, B, H) for _ in range(n)], r(*seq, H), [r(1, B, H) for _ in range(n)]


def run_layer(layer, x, states, dy, dfinals, lengths=None):
    """Forward + backward; returns {name: array} of outputs, input gradients, parameter grads."""
    if isinstance(layer, lstmx.LSTM):
        y, (h_n, c_n) = layer(x, tuple(states), lengths=lengths)
        dx, (dh0, dc0) = layer.backward(dy, tuple(dfinals))
        out = {"y": y, "h_n": h_n, "c_n": c_n, "dx": dx, "dh0": dh0, "dc0": dc0}
    else:
        y, h_n = layer(x, states[0], lengths=lengths)
        dx, dh0 = layer.backward(dy, dfinals[0])
        out = {"y": y, "h_n": h_n, "dx": dx, "dh0": dh0}
    out.update({name: p.grad.copy() for name, p in layer.named_parameters()})
    return out


def run_cell(cell, x, h, c, dh, dc):
    if isinstance(cell, lstmx.LSTMCell):
        h_new, c_new = cell(x, (h, c))
        dx, (dh0, dc0) = cell.backward(dh, dc)
        out = {"h": h_new, "c": c_new, "dx": dx, "dh": dh0, "dc": dc0}
    else:
        h_new = cell(x, h)
        dx, dh0 = cell.backward(dh)
        out = {"h": h_new, "dx": dx, "dh": dh0}
    out.update({name: p.grad.copy() for name, p in cell.named_parameters()})
    return out


def cell_data(I, H, dtype, seed, B=3):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in [(B, I), (B, H), (B, H), (B, H), (B, H)]]


def assert_all_equal(label, got, want):
    assert set(got) == set(want), f"{label}: {sorted(got)} vs {sorted(want)}"
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=f"{label}: {name}")


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_layer_parameter_names_and_shapes(kind, dtype):
    I, H = 3, 7
    G = GATES[kind]
    layer = make_layer(kind, I, H, dtype)
    got = [(name, p.shape, p.dtype, p.grad.shape, p.grad.dtype)
           for name, p in layer.named_parameters()]
    want = [(name, shape, np.dtype(dtype), shape, np.dtype(dtype)) for name, shape in [
        ("weight_ih_l0", (G * H, I)), ("weight_hh_l0", (G * H, H)),
        ("bias_ih_l0", (G * H,)), ("bias_hh_l0", (G * H,))]]
    assert got == want
    assert layer.parameters() == [p for _, p in layer.named_parameters()]
    assert all(not np.any(p.grad) for p in layer.parameters()), "fresh grads must be zero"


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_cell_parameter_names_and_shapes(kind):
    I, H = 3, 7
    G = GATES[kind]
    cell = make_cell(kind, I, H, np.float32)
    got = [(name, p.shape, p.dtype) for name, p in cell.named_parameters()]
    want = [("weight_ih", (G * H, I), np.float32), ("weight_hh", (G * H, H), np.float32),
            ("bias_ih", (G * H,), np.float32), ("bias_hh", (G * H,), np.float32)]
    assert got == want


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_layer_without_bias_equals_zero_biases(kind):
    T, B, I, H = 4, 3, 4, 5
    plain = make_layer(kind, I, H, seed=5, bias=False)
    assert [n for n, _ in plain.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    zeroed = make_layer(kind, I, H, seed=5)  # the same seed draws the same weights first
    zeroed.bias_ih_l0.data[...] = 0
    zeroed.bias_hh_l0.data[...] = 0
    x, states, dy, dfinals = sequence_data(kind, T, B, I, H, np.float64, 6)
    lengths = np.array([T, 1, 2])
    got = run_layer(plain, x, states, dy, dfinals, lengths)
    want = run_layer(zeroed, x, states, dy, dfinals, lengths)
    del want["bias_ih_l0"], want["bias_hh_l0"]
    assert_all_equal(f"{kind} bias=False", got, want)


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_cell_without_bias_equals_zero_biases(kind):
    I, H = 4, 5
    plain = make_cell(kind, I, H, seed=5, bias=False)
    assert [n for n, _ in plain.named_parameters()] == ["weight_ih", "weight_hh"]
    zeroed = make_cell(kind, I, H, seed=5)
    zeroed.bias_ih.data[...] = 0
    zeroed.bias_hh.data[...] = 0
    data = cell_data(I, H, np.float64, 7)
    got = run_cell(plain, *data)
    want = run_cell(zeroed, *data)
    del want["bias_ih"], want["bias_hh"]
    assert_all_equal(f"{kind} cell bias=False", got, want)


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_zero_grad_and_accumulation(kind):
    T, B, I, H = 4, 3, 4, 5
    layer = make_layer(kind, I, H, seed=1)
    cell = make_cell(kind, I, H, seed=1)
    seq = sequence_data(kind, T, B, I, H, np.float64, 2)
    step = cell_data(I, H, np.float64, 3)
    for label, module, run in [("layer", layer, lambda: run_layer(layer, *seq)),
                               ("cell", cell, lambda: run_cell(cell, *step))]:
        first = run()
        once = {name: p.grad.copy() for name, p in module.named_parameters()}
        assert all(np.any(g) for g in once.values()), f"{kind} {label}: a zero gradient"
        second = run()
        for name, p in module.named_parameters():
            assert_close(f"{kind} {label} {name}.grad after two backward calls",
                         p.grad, 2 * once[name], 1e-12)
        for name in first:
            if name not in once:
                np.testing.assert_array_equal(second[name], first[name],
                                              err_msg=f"{kind} {label}: {name} of the second run")
        module.zero_grad()
        for name, p in module.named_parameters():
            assert p.grad.shape == p.shape and p.grad.dtype == p.dtype
            assert not np.any(p.grad), f"{kind} {label}: {name}.grad not zeroed"


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_state_dict_is_a_copy(kind):
    for module in (make_layer(kind, seed=3), make_cell(kind, seed=3)):
        state = module.state_dict()
        assert list(state) == [n for n, _ in module.named_parameters()]
        kept = {n: p.data.copy() for n, p in module.named_parameters()}
        for v in state.values():
            v[...] = 42.0
        for name, p in module.named_parameters():
            np.testing.assert_array_equal(p.data, kept[name], err_msg=f"{kind}: {name} follows the dict")
        # and the other way: a loaded dict is copied in, not shared
        fresh = module.state_dict()
        module.load_state_dict(fresh)
        for v in fresh.values():
            v[...] = -1.0
        for name, p in module.named_parameters():
            np.testing.assert_array_equal(p.data, kept[name], err_msg=f"{kind}: {name} shares the loaded array")


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_seed_decides_the_weights(kind):
    for make in (make_layer, make_cell):
        a, b, c = make(kind, seed=11), make(kind, seed=11), make(kind, seed=12)
        for (name, pa), (_, pb), (_, pc) in zip(a.named_parameters(), b.named_parameters(),
                                                c.named_parameters()):
            np.testing.assert_array_equal(pa.data, pb.data, err_msg=f"{kind}: {name}, same seed")
            assert np.any(pa.data != pc.data), f"{kind}: {name} equal for seeds 11 and 12"
            bound = 1 / np.sqrt(a.hidden_size)
            assert np.all(np.abs(pa.data) <= bound), f"{kind}: {name} outside U(-1/sqrt(H), 1/sqrt(H))"


# ---------------------------------------------------------------------------
# eval() and batch_first
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_eval_forward_equals_training_forward_and_keeps_nothing(kind):
    T, B, I, H = 5, 3, 4, 6
    layer = make_layer(kind, I, H, seed=4)
    x, states, dy, dfinals = sequence_data(kind, T, B, I, H, np.float64, 5)
    lengths = np.array([T, 1, 3])
    state = tuple(states) if kind == "lstm" else states[0]
    train_out = layer(x, state, lengths=lengths)
    assert layer.eval() is layer and not layer.training
    eval_out = layer(x, state, lengths=lengths)
    with pytest.raises(RuntimeError, match="eval"):
        layer.backward(dy)
    flat = lambda r: [r[0], *r[1]] if kind == "lstm" else list(r)  # noqa: E731
    for i, (a, b) in enumerate(zip(flat(eval_out), flat(train_out))):
        np.testing.assert_array_equal(a, b, err_msg=f"{kind}: output {i}, eval vs training")
    layer.train()
    got = run_layer(layer, x, states, dy, dfinals, lengths)
    np.testing.assert_array_equal(got["y"], train_out[0])


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_batch_first_is_the_transposed_time_major(kind):
    T, B, I, H = 5, 4, 3, 6
    tm = make_layer(kind, I, H, seed=8)
    bf = make_layer(kind, I, H, seed=8, batch_first=True)
    x, states, dy, dfinals = sequence_data(kind, T, B, I, H, np.float64, 9)
    lengths = np.array([T, 1, 4, 2])
    want = run_layer(tm, x, states, dy, dfinals, lengths)
    got = run_layer(bf, x.transpose(1, 0, 2).copy(), states, dy.transpose(1, 0, 2).copy(),
                    dfinals, lengths)
    assert got["y"].shape == (B, T, H) and got["dx"].shape == (B, T, I)
    for name in ("y", "dx"):
        got[name] = got[name].transpose(1, 0, 2)
    assert_all_equal(f"{kind} batch_first", got, want)


# ---------------------------------------------------------------------------
# Threads and build information
# ---------------------------------------------------------------------------


# 1 vs 2 threads split the recurrent products of a step over hidden-unit blocks; OpenBLAS
# computes a column slice with other edge kernels than the whole, so float32 results may
# differ in the last bit (~1e-7 relative): they must agree to float32 precision, and float64
# to 1e-12.
THREAD_TOL = {np.float64: 1e-12, np.float32: 1e-5}
THREAD_CASES = [
    pytest.param(dtype, kind, B, id=f"{np.dtype(dtype)}-{kind}-B{B}")
    for dtype in (np.float64, np.float32) for kind in ("lstm", "gru", "rnn_tanh") for B in (8, 1)
]


@pytest.mark.parametrize("dtype,kind,B", THREAD_CASES)
def test_one_and_two_threads_agree(dtype, kind, B, fixed_threads):
    T, I, H = 6, 20, 70
    x, states, dy, dfinals = sequence_data(kind, T, B, I, H, dtype, 10)
    lengths = np.array([T, 1, 3, 6, 2, 5, 4, 6][:B]) if B > 1 else None
    results = {}
    for n in (1, 2):
        fixed_threads(n)
        assert lstmx.get_num_threads() == n
        results[n] = run_layer(make_layer(kind, I, H, dtype, seed=12), x, states, dy, dfinals, lengths)
    for name in results[1]:
        assert_close(f"{kind} {np.dtype(dtype)} B={B} {name}, 2 threads vs 1",
                     results[2][name], results[1][name], THREAD_TOL[dtype])


def test_get_num_threads_returns_what_was_set(fixed_threads):
    for n in (1, 3, 2):
        fixed_threads(n)
        assert lstmx.get_num_threads() == n
        assert lstmx.build_info()["num_threads"] == n


def test_build_info():
    info = lstmx.build_info()
    for key in ("compiler", "openmp", "openmp_version", "blas", "simd"):
        assert key in info, f"build_info() lacks {key!r}: {sorted(info)}"
    assert isinstance(info["compiler"], str) and info["compiler"]
    assert isinstance(info["openmp"], bool)
    if info["openmp"]:
        assert isinstance(info["openmp_version"], int) and info["openmp_version"] >= 200805
    else:
        assert info["openmp_version"] is None
    assert isinstance(info["blas"], str) and info["blas"]
    assert isinstance(info["simd"], list) and all(isinstance(s, str) for s in info["simd"])
    assert info["blas_threads"] == 1


# ---------------------------------------------------------------------------
# Finite differences of the native layers (float64)
# ---------------------------------------------------------------------------

EPS = 1e-6
RTOL = 1e-6
GRAD_FLOOR = 1e-2
RELU_MARGIN = 1e-3
PARAM_ENTRIES = 6  # entries checked per parameter


def relu_margin(layer, x, h0, lengths):
    """Smallest |pre-activation| of a relu RNN over the steps that run."""
    y, _ = layer(x, h0, lengths=lengths)
    h_prev = np.concatenate([h0, y[:-1]], axis=0)
    a = (x @ layer.weight_ih_l0.data.T + layer.bias_ih_l0.data
         + h_prev @ layer.weight_hh_l0.data.T + layer.bias_hh_l0.data)
    live = np.arange(x.shape[0])[:, None] < lengths[None, :]
    return np.abs(a[live]).min()


def assert_grad_close(label, analytic, numeric):
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), GRAD_FLOOR)
    err = np.abs(analytic - numeric) / scale
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err[worst] <= RTOL, (
        f"{label}[{', '.join(map(str, worst))}]: analytic {analytic[worst]:.10g} vs numeric "
        f"{numeric[worst]:.10g} (relative error {err[worst]:.2e} > {RTOL})")


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_layer_gradients_match_finite_differences(kind):
    T, B, I, H = 4, 3, 3, 5
    lengths = np.array([T, 1, 2])
    for attempt in range(50):
        layer = make_layer(kind, I, H, seed=20 + attempt)
        x, states, _, _ = sequence_data(kind, T, B, I, H, np.float64, 30 + attempt)
        if kind != "rnn_relu" or relu_margin(layer, x, states[0], lengths) > RELU_MARGIN:
            break
    else:
        raise RuntimeError("could not draw relu inputs away from the kink")
    rng = np.random.default_rng(40)
    n_out = 3 if kind == "lstm" else 2
    weights = [rng.standard_normal((T, B, H))] + [rng.standard_normal((1, B, H))
                                                  for _ in range(n_out - 1)]

    def loss():
        """L = sum(y*wy) + sum(h_n*wh) (+ sum(c_n*wc))."""
        if kind == "lstm":
            y, finals = layer(x, tuple(states), lengths=lengths)
        else:
            y, h_n = layer(x, states[0], lengths=lengths)
            finals = (h_n,)
        return sum(float(np.sum(o * w)) for o, w in zip([y, *finals], weights))

    analytic = run_layer(layer, x, states, weights[0], weights[1:], lengths)

    def numeric(array, flat_indices):
        return finite_difference(loss, array, EPS, flat_indices)

    inputs = [("x", x), ("h0", states[0])] + ([("c0", states[1])] if kind == "lstm" else [])
    for name, array in inputs:
        every = np.arange(array.size)
        assert_grad_close(f"{kind} d{name}", analytic["d" + name],
                          numeric(array, every).reshape(array.shape))
    for name, p in layer.named_parameters():
        picked = rng.choice(p.data.size, size=min(PARAM_ENTRIES, p.data.size), replace=False)
        assert_grad_close(f"{kind} {name}.grad (flat entries {picked.tolist()})",
                          analytic[name].reshape(-1)[picked], numeric(p.data, picked))


# ---------------------------------------------------------------------------
# Stacks, both directions, dropout between layers
# ---------------------------------------------------------------------------


def _stack(kind, dropout=0.0, seed=3):
    cls = {"lstm": lstmx.LSTM, "gru": lstmx.GRU, "rnn": lstmx.RNN}[kind]
    return cls(4, 5, num_layers=2, bidirectional=True, dropout=dropout, dtype=np.float64, seed=seed)


def _stack_loss(layer, kind, x, wy, lengths, mask_seed):
    layer._dropout_rng = np.random.default_rng(mask_seed)  # the same masks on every call
    y, _ = layer(x, lengths=lengths)
    return float(np.sum(y * wy))


@pytest.mark.parametrize("dropout", [0.0, 0.4])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_stack_finite_differences(kind, dropout):
    """2-layer bidirectional stack with mixed lengths (and dropout masks held fixed)."""
    rng = np.random.default_rng(11)
    T, B = 4, 3
    layer = _stack(kind, dropout)
    x = rng.standard_normal((T, B, 4))
    wy = rng.standard_normal((T, B, 10))
    lengths = np.array([4, 1, 2])
    _stack_loss(layer, kind, x, wy, lengths, 5)
    layer.zero_grad()
    dx, _ = layer.backward(wy)
    eps = 1e-6
    checks = [("x", x, dx)] + [(n, p.data, p.grad) for n, p in layer.named_parameters()]
    for name, arr, grad in checks:
        for idx in [(0,) * arr.ndim, tuple(s - 1 for s in arr.shape)]:
            old = arr[idx]
            arr[idx] = old + eps
            up = _stack_loss(layer, kind, x, wy, lengths, 5)
            arr[idx] = old - eps
            down = _stack_loss(layer, kind, x, wy, lengths, 5)
            arr[idx] = old
            numeric = (up - down) / (2 * eps)
            assert abs(grad[idx] - numeric) <= 1e-6 * max(abs(numeric), 1e-2), (
                f"{kind} dropout={dropout} d{name}{list(idx)}: analytic {grad[idx]!r}, numeric {numeric!r}")


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_dropout_masks_seeded_and_off_in_eval(kind):
    x = np.random.default_rng(2).standard_normal((5, 3, 4))
    a, b, plain = _stack(kind, 0.5, seed=9), _stack(kind, 0.5, seed=9), _stack(kind, 0.0, seed=9)
    ya, yb = a(x)[0], b(x)[0]
    np.testing.assert_array_equal(ya, yb, err_msg="same seed must draw the same dropout masks")
    assert not np.allclose(ya, plain(x)[0]), "dropout=0.5 in training must change the output"
    a.eval()
    plain.eval()
    np.testing.assert_array_equal(a(x)[0], plain(x)[0], err_msg="eval() must switch dropout off")
    np.testing.assert_array_equal(a(x)[0], a(x)[0])
