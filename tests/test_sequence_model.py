"""lstmx.nn.SequenceModel: built from a JSON-ready dict, last-step and every-step outputs,
gradients by finite differences, clear errors for bad configs."""

import json

import numpy as np
import pytest

import lstmx
from lstmx.nn import SequenceModel

BASE = {"cell": "lstm", "input_size": 3, "hidden_size": 6, "seed": 4, "dtype": "float64"}


def test_config_round_trips_through_json(rng):
    config = dict(BASE, num_layers=2, bidirectional=True, layer_norm=True, dropout=0.1,
                  recurrent_dropout=0.2, output_size=2)
    model = SequenceModel(config)
    again = SequenceModel(json.loads(json.dumps(model.config)))
    again.load_state_dict(model.state_dict())
    model.eval()
    again.eval()
    x = rng.standard_normal((5, 4, 3))
    np.testing.assert_array_equal(model(x), again(x))
    assert model.config == again.config


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("output", ["last", "all"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_shapes_and_finite_differences(cell, output, bidirectional, rng):
    model = SequenceModel(dict(BASE, cell=cell, output=output, bidirectional=bidirectional,
                               num_layers=2, output_size=2))
    x = rng.standard_normal((5, 3, 3))
    lengths = np.array([5, 2, 4])
    y = model(x, lengths)
    assert y.shape == ((3, 2) if output == "last" else (5, 3, 2))
    w = rng.standard_normal(y.shape)
    model.zero_grad()
    dx = model.backward(w)
    eps = 1e-6
    for name, arr, grad in [("x", x, dx)] + [(n, p.data, p.grad) for n, p in model.named_parameters()]:
        idx = tuple(int(rng.integers(0, s)) for s in arr.shape)
        old = arr[idx]
        arr[idx] = old + eps
        lp = float((model(x, lengths) * w).sum())
        arr[idx] = old - eps
        lm = float((model(x, lengths) * w).sum())
        arr[idx] = old
        num = (lp - lm) / (2 * eps)
        assert abs(num - grad[idx]) <= 1e-6 * max(1.0, abs(num)), (
            f"{name}{list(idx)}: finite difference {num:.10g}, backward {grad[idx]:.10g}")


def test_last_is_the_last_valid_step(rng):
    model = SequenceModel(dict(BASE, output="last"))
    x = rng.standard_normal((6, 2, 3))
    got = model(x, np.array([6, 3]))
    y, _ = model.rnn(x[:3, 1:2])
    np.testing.assert_allclose(got[1], y[-1, 0], rtol=1e-12)


def test_without_head_returns_features(rng):
    model = SequenceModel(dict(BASE, bidirectional=True))
    assert model(rng.standard_normal((4, 2, 3))).shape == (2, 12)


@pytest.mark.parametrize("config,message", [
    ({"cell": "lstm", "input_size": 3}, "config needs 'hidden_size'"),
    (dict(BASE, cell="transformer"), "config\\['cell'\\] must be one of"),
    (dict(BASE, output="first"), "config\\['output'\\] must be 'last' or 'all'"),
    (dict(BASE, hiden_size=3), "unknown keys \\['hiden_size'\\]"),
    (dict(BASE, cell="gru", proj_size=2), "config\\[.proj_size.\\] does not apply to cell .gru."),
])
def test_bad_configs(config, message):
    with pytest.raises(ValueError, match=message):
        SequenceModel(config)


def test_cell_specific_keys_and_dy_checked(rng):
    with pytest.raises(ValueError, match="config\\['activation'\\] does not apply to cell 'rnn'"):
        SequenceModel(dict(BASE, cell="rnn", activation="elu"))
    with pytest.raises(ValueError, match="config\\['nonlinearity'\\] does not apply"):
        SequenceModel(dict(BASE, nonlinearity="relu"))
    model = SequenceModel(dict(BASE))
    model(rng.standard_normal((4, 3, 3)))
    with pytest.raises(ValueError, match=r"dy must have shape \(B, features\) = \(3, 6\)"):
        model.backward(np.ones((1, 6)))
