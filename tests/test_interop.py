"""lstmx.interop: weights move between PyTorch and lstmx exactly, both ways.

For every layer type and every option (num_layers, bidirectional, batch_first, bias,
nonlinearity, dtype): torch -> lstmx -> torch and lstmx -> torch -> lstmx reproduce every
parameter bit for bit and the configuration; the converted layer computes what the original
does. Also the errors: no torch, an unsupported module, an unsupported dtype or option.
"""

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lstmx  # noqa: E402
from conftest import assert_close  # noqa: E402
from lstmx.interop import from_torch, to_torch  # noqa: E402
from lstmx.nn.layers import Embedding, Linear  # noqa: E402

TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}

SEQUENCE_OPTIONS = [
    dict(),
    dict(num_layers=2),
    dict(num_layers=3, bidirectional=True),
    dict(bidirectional=True, batch_first=True),
    dict(bias=False, num_layers=2),
    dict(batch_first=True, dropout=0.25, num_layers=2),
]
SEQUENCE_KINDS = [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("RNN", {"nonlinearity": "relu"})]
CELL_KINDS = [("LSTMCell", {}), ("GRUCell", {}), ("RNNCell", {}),
              ("RNNCell", {"nonlinearity": "relu"}), ("LSTMCell", {"bias": False}),
              ("GRUCell", {"bias": False})]


def same_state(name, a, b):
    """Two ``{name: array}`` dicts hold the same keys and bit-identical arrays."""
    assert list(a) == list(b), f"{name}: keys {list(a)} vs {list(b)}"
    for k in a:
        assert a[k].dtype == b[k].dtype, f"{name}.{k}: dtype {a[k].dtype} vs {b[k].dtype}"
        assert np.array_equal(a[k], b[k]), f"{name}.{k}: values differ after the round trip"


def torch_state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def settings(obj, names):
    return {n: getattr(obj, n) for n in names}


RECURRENT_SETTINGS = ("input_size", "hidden_size", "num_layers", "bias", "batch_first",
                      "dropout", "bidirectional")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("options", SEQUENCE_OPTIONS)
@pytest.mark.parametrize("kind,extra", SEQUENCE_KINDS)
def test_sequence_round_trips(kind, extra, options, dtype):
    names = RECURRENT_SETTINGS + tuple(extra)
    torch.manual_seed(0)
    module = getattr(torch.nn, kind)(5, 6, **options, **extra, dtype=TORCH_DTYPE[dtype])
    layer = from_torch(module)
    assert type(layer) is getattr(lstmx, kind)
    assert layer.dtype == dtype
    assert settings(layer, names) == settings(module, names)
    same_state("torch->lstmx", layer.state_dict(), torch_state(module))
    back = to_torch(layer)
    assert settings(back, names) == settings(module, names)
    same_state("torch->lstmx->torch", torch_state(back), torch_state(module))

    fresh = getattr(lstmx, kind)(5, 6, **options, **extra, dtype=dtype, seed=7)
    again = from_torch(to_torch(fresh))
    assert settings(again, names) == settings(fresh, names)
    same_state("lstmx->torch->lstmx", again.state_dict(), fresh.state_dict())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind,extra", CELL_KINDS)
def test_cell_round_trips(kind, extra, dtype):
    names = ("input_size", "hidden_size", "bias") + tuple(k for k in extra if k != "bias")
    torch.manual_seed(1)
    module = getattr(torch.nn, kind)(4, 3, **extra, dtype=TORCH_DTYPE[dtype])
    layer = from_torch(module)
    assert type(layer) is getattr(lstmx, kind)
    assert settings(layer, names) == settings(module, names)
    same_state("torch->lstmx", layer.state_dict(), torch_state(module))
    same_state("torch->lstmx->torch", torch_state(to_torch(layer)), torch_state(module))
    fresh = getattr(lstmx, kind)(4, 3, **extra, dtype=dtype, seed=3)
    same_state("lstmx->torch->lstmx", from_torch(to_torch(fresh)).state_dict(),
               fresh.state_dict())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_and_embedding_round_trip(dtype):
    for module in (torch.nn.Linear(4, 3), torch.nn.Linear(4, 3, bias=False),
                   torch.nn.Embedding(9, 5), torch.nn.Embedding(9, 5, padding_idx=2)):
        module = module.to(TORCH_DTYPE[dtype])
        layer = from_torch(module)
        assert type(layer) in (Linear, Embedding)
        same_state(repr(module), layer.state_dict(), torch_state(module))
        same_state(repr(module), torch_state(to_torch(layer)), torch_state(module))
    emb = from_torch(torch.nn.Embedding(9, 5, padding_idx=2))
    assert emb.padding_idx == 2 and to_torch(emb).padding_idx == 2


@pytest.mark.parametrize("kind,extra", SEQUENCE_KINDS)
def test_converted_layer_computes_the_same(kind, extra, rng):
    """float64, two layers, bidirectional, batch-first: outputs and final states agree."""
    module = getattr(torch.nn, kind)(5, 6, num_layers=2, bidirectional=True, batch_first=True,
                                     **extra).double()
    layer = from_torch(module)
    x = rng.standard_normal((3, 4, 5))
    y, state = layer(x)
    ty, tstate = module(torch.from_numpy(x))
    assert_close(f"{kind} y", y, ty.detach().numpy(), 1e-10)
    if kind == "LSTM":
        assert_close("h_n", state[0], tstate[0].detach().numpy(), 1e-10)
        assert_close("c_n", state[1], tstate[1].detach().numpy(), 1e-10)
    else:
        assert_close("h_n", state, tstate.detach().numpy(), 1e-10)

    back = to_torch(layer)
    assert_close(f"{kind} y via to_torch", back(torch.from_numpy(x))[0].detach().numpy(), y,
                 1e-10)


def test_converted_cell_computes_the_same(rng):
    module = torch.nn.LSTMCell(4, 3).double()
    cell = from_torch(module)
    x, h, c = rng.standard_normal((2, 4)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    h1, c1 = cell(x, (h, c))
    th, tc = module(*map(torch.from_numpy, (x,)), (torch.from_numpy(h), torch.from_numpy(c)))
    assert_close("h", h1, th.detach().numpy(), 1e-10)
    assert_close("c", c1, tc.detach().numpy(), 1e-10)


def test_unsupported_inputs_are_named():
    with pytest.raises(TypeError, match="Conv1d"):
        from_torch(torch.nn.Conv1d(2, 3, 3))
    with pytest.raises(TypeError, match="SequenceThing"):
        to_torch(type("SequenceThing", (), {})())
    with pytest.raises(TypeError, match="float16"):
        from_torch(torch.nn.GRU(3, 4).half())
    with pytest.raises(ValueError, match="ln_cell_bias_l0"):
        to_torch(lstmx.LSTM(3, 4, layer_norm=True))


def test_projected_lstm_round_trip(rng):
    module = torch.nn.LSTM(3, 5, proj_size=2, num_layers=2, bidirectional=True).double()
    layer = from_torch(module)
    assert layer.proj_size == 2
    x = rng.standard_normal((4, 2, 3))
    y, (h, c) = layer(x)
    ty, (th, tc) = module(torch.from_numpy(x))
    assert_close("y", y, ty.detach().numpy(), 1e-10)
    assert_close("h_n", h, th.detach().numpy(), 1e-10)
    back = to_torch(layer)
    for k, v in module.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k].numpy(), v.numpy(), err_msg=k)


def test_missing_torch_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(ImportError, match="needs PyTorch"):
        to_torch(lstmx.LSTM(3, 4))
