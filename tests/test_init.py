"""Initialisers of the recurrent layers (python/lstmx/nn/init.py)."""

import re

import numpy as np
import pytest

import lstmx

LAYERS = {"lstm": (lstmx.LSTM, 4), "gru": (lstmx.GRU, 3), "rnn": (lstmx.RNN, 1)}


@pytest.mark.parametrize("kind", list(LAYERS))
def test_pytorch_scheme_range(kind):
    cls, _ = LAYERS[kind]
    layer = cls(6, 9, num_layers=2, bidirectional=True, seed=0)
    k = 1 / np.sqrt(9)
    for name, p in layer.named_parameters():
        assert np.all(np.abs(p.data) <= k), f"{name} leaves U(-1/sqrt(H), 1/sqrt(H))"
        assert p.data.std() > 0.3 * k, f"{name} is not spread over its range"


@pytest.mark.parametrize("kind", list(LAYERS))
def test_orthogonal_scheme(kind):
    cls, G = LAYERS[kind]
    H, I = 8, 5
    layer = cls(I, H, num_layers=2, bidirectional=True, seed=4, init="orthogonal", dtype=np.float64)
    for name, p in layer.named_parameters():
        if name.startswith("bias"):
            np.testing.assert_array_equal(p.data, 0, err_msg=f"{name} must start at zero")
        elif name.startswith("weight_hh"):
            for g in range(G):
                block = p.data[g * H:(g + 1) * H]
                np.testing.assert_allclose(block @ block.T, np.eye(H), atol=1e-12,
                                           err_msg=f"{name} gate block {g} is not orthogonal")
        else:
            limit = np.sqrt(6 / (p.data.shape[1] + H))
            assert np.all(np.abs(p.data) <= limit), f"{name} leaves the Glorot range ±{limit:.3f}"


def test_forget_bias_lands_in_the_forget_block():
    H = 6
    base = lstmx.LSTM(3, H, seed=1)
    shifted = lstmx.LSTM(3, H, seed=1, forget_bias=1.0)
    d = shifted.bias_ih_l0.data - base.bias_ih_l0.data
    np.testing.assert_allclose(d[H:2 * H], 1.0, rtol=1e-6)
    np.testing.assert_array_equal(np.delete(d, np.s_[H:2 * H]), 0)
    np.testing.assert_array_equal(shifted.bias_hh_l0.data, base.bias_hh_l0.data)
    ortho = lstmx.LSTM(3, H, init="orthogonal", forget_bias=1.0)
    np.testing.assert_array_equal(ortho.bias_ih_l0.data, np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])


def test_callable_init_and_seeds():
    seen = []

    def constant(name, shape, rng):
        seen.append(name)
        return np.full(shape, 0.25)

    layer = lstmx.GRU(3, 4, bidirectional=True, init=constant)
    assert seen == [n for n, _ in layer.named_parameters()]
    assert all(np.all(p.data == np.float32(0.25)) for p in layer.parameters())
    a, b = lstmx.LSTM(3, 4, init="orthogonal", seed=7), lstmx.LSTM(3, 4, init="orthogonal", seed=7)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=f"{name}: same seed, other values")


def test_bad_init_arguments():
    with pytest.raises(ValueError, match=re.escape("init must be 'pytorch', 'orthogonal' or a callable, got 'xavier'")):
        lstmx.LSTM(3, 4, init="xavier")
    with pytest.raises(ValueError, match=re.escape("init returned shape (2,) for weight_ih_l0, expected (16, 3)")):
        lstmx.LSTM(3, 4, init=lambda name, shape, rng: np.zeros(2))
    with pytest.raises(ValueError, match="forget_bias applies to LSTM only"):
        lstmx.GRU(3, 4, forget_bias=1.0)
    with pytest.raises(ValueError, match="forget_bias needs bias=True"):
        lstmx.LSTM(3, 4, bias=False, forget_bias=1.0)
