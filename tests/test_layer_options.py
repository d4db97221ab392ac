"""Options of the recurrent layers (layer norm, recurrent and input dropout, activations,
projections): central finite differences through stacks and directions (float64), dropout
reproducibility and eval determinism, a layer against the reference, parameter names, and
the refusal of options that make no sense together."""

import pickle

import numpy as np
import pytest

import lstmx
from lstmx import reference
from conftest import assert_close, finite_difference, reference_params

LAYERS = {"lstm": lstmx.LSTM, "gru": lstmx.GRU, "rnn": lstmx.RNN}
LAYER_CONFIGS = [
    ("lstm", dict(layer_norm=True, num_layers=2, bidirectional=True)),
    ("lstm", dict(layer_norm=True, proj_size=3, bidirectional=True)),
    ("lstm", dict(recurrent_dropout=0.3, input_dropout=0.2, num_layers=2, dropout=0.25)),
    ("lstm", dict(activation="elu", recurrent_activation="hard_sigmoid", num_layers=2)),
    ("gru", dict(layer_norm=True, num_layers=2, bidirectional=True, recurrent_dropout=0.3)),
    ("gru", dict(activation="leaky_relu", activation_param=0.2)),
    ("rnn", dict(nonlinearity="sigmoid", recurrent_dropout=0.4, bidirectional=True)),
]


def loss(layer, cell, x, lengths, wy, wh, mask_seed):
    """L = Σ y·wy + Σ h_n·wh, with the dropout generator re-seeded so every call draws the
    same masks."""
    layer._dropout_rng = np.random.default_rng(mask_seed)
    y, h_n = layer(x, None, lengths=lengths)
    h_n = h_n[0] if cell == "lstm" else h_n
    return float((y * wy).sum() + (h_n * wh).sum()), y, h_n


@pytest.mark.parametrize("cell,kw", LAYER_CONFIGS, ids=[
    f"{c}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for c, kw in LAYER_CONFIGS])
def test_layer_finite_differences(cell, kw, rng):
    T, B, I, H = 5, 3, 4, 6
    layer = LAYERS[cell](I, H, dtype=np.float64, seed=3, **kw)
    x = rng.standard_normal((T, B, I))
    lengths = np.array([5, 2, 4])
    _, y, h_n = loss(layer, cell, x, lengths, 0, 0, 0)
    wy, wh = rng.standard_normal(y.shape), rng.standard_normal(h_n.shape)
    layer.zero_grad()
    loss(layer, cell, x, lengths, wy, wh, 7)
    dx = layer.backward(wy, (wh, None) if cell == "lstm" else wh)[0]
    checks = [("x", x, dx)] + [(n, p.data, p.grad) for n, p in layer.named_parameters()]
    for name, arr, grad in checks:
        picks = rng.integers(0, arr.size, size=3)
        num = finite_difference(lambda: loss(layer, cell, x, lengths, wy, wh, 7)[0], arr, 1e-6,
                                picks)
        for i, n, g in zip(picks, num, grad.reshape(-1)[picks]):
            assert abs(n - g) <= 1e-6 * max(1.0, abs(n)), (
                f"{name}[flat {i}]: finite difference {n:.10g}, backward {g:.10g}")


@pytest.mark.parametrize("cell", list(LAYERS))
def test_dropout_masks_reproducible_and_eval_deterministic(cell, rng):
    I, H = 4, 8
    kw = dict(recurrent_dropout=0.5, input_dropout=0.3, num_layers=2, dropout=0.2,
              dtype=np.float64, seed=3)
    x = rng.standard_normal((6, 3, I))
    a, b = LAYERS[cell](I, H, **kw), LAYERS[cell](I, H, **kw)
    ya, yb = a(x)[0], b(x)[0]
    np.testing.assert_array_equal(ya, yb, err_msg="same seed, same masks, same outputs")
    assert not np.array_equal(a(x)[0], ya), "a second training forward draws new masks"
    plain = LAYERS[cell](I, H, num_layers=2, dtype=np.float64, seed=3)
    plain.load_state_dict(a.state_dict())
    a.eval()
    plain.eval()
    e1, e2 = a(x)[0], a(x)[0]
    np.testing.assert_array_equal(e1, e2, err_msg="eval is deterministic")
    np.testing.assert_allclose(e1, plain(x)[0], rtol=0, atol=1e-14,
                               err_msg="eval equals the dropout-free layer")
    assert not np.allclose(ya, e1), "training with dropout differs from eval"


def test_layer_norm_layer_matches_reference(rng):
    """A 1-layer LN LSTM layer (float32, batch_first) equals the reference on its params."""
    I, H, T, B = 5, 8, 4, 3
    layer = lstmx.LSTM(I, H, layer_norm=True, batch_first=True, seed=1, forget_bias=1.0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    y, (h_n, c_n) = layer(x)
    params = reference_params(layer)
    assert params["ln_ih_b"][H:2 * H].tolist() == [1.0] * H, "forget_bias goes to ln_ih_bias"
    want, wh, wc, _ = reference.lstm_forward(x.transpose(1, 0, 2), None, None, params,
                                             layer_norm=True)
    assert_close("y", y, want.transpose(1, 0, 2), 1e-4)
    assert_close("h_n", h_n[0], wh, 1e-4)
    assert_close("c_n", c_n[0], wc, 1e-4)


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
    (lambda: lstmx.LSTM(3, 1, layer_norm=True), "layer_norm needs hidden_size >= 2"),
    (lambda: lstmx.GRUCell(3, 1, layer_norm=True), "layer_norm needs hidden_size >= 2"),
])
def test_bad_option_combinations(ctor, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ctor()


def test_pickled_arrays_are_accepted(rng):
    """An unpickled array has an equal dtype that is another object (multiprocessing)."""
    layer = pickle.loads(pickle.dumps(lstmx.LSTM(3, 4, layer_norm=True, seed=0)))
    x = pickle.loads(pickle.dumps(rng.standard_normal((2, 1, 3)).astype(np.float32)))
    plain = pickle.loads(pickle.dumps(lstmx.GRU(3, 4, seed=0)))
    assert layer(x)[0].shape == (2, 1, 4) and plain(x)[0].shape == (2, 1, 4)


def test_second_backward_raises(rng):
    layer = lstmx.LSTM(3, 4, layer_norm=True)
    y, _ = layer(rng.standard_normal((2, 1, 3)).astype(np.float32))
    layer.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="needs a forward"):
        layer.backward(np.ones_like(y))
