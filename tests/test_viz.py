"""lstmx.viz.gates: the gate activations are the layer's own, and the plots get written."""

import sys

import numpy as np
import pytest

import lstmx
from conftest import assert_close
from lstmx.charlm import CharLM, CharVocab
from lstmx.viz import gate_activations, plot_gates

LAYERS = {
    "lstm": lambda: lstmx.LSTM(3, 5, num_layers=2, dtype=np.float64, seed=0),
    "gru": lambda: lstmx.GRU(3, 5, dtype=np.float64, seed=1),
    "rnn_relu": lambda: lstmx.RNN(3, 5, nonlinearity="relu", bias=False, dtype=np.float64,
                                  seed=2),
    # the layers' own options: activations, layer norm, projection
    "lstm_options": lambda: lstmx.LSTM(3, 5, proj_size=2, layer_norm=True, activation="elu",
                                       recurrent_activation="hard_sigmoid", dtype=np.float64,
                                       seed=3),
    "gru_options": lambda: lstmx.GRU(3, 5, layer_norm=True, activation="leaky_relu",
                                     activation_param=0.2, dtype=np.float64, seed=4),
    "rnn_options": lambda: lstmx.RNN(3, 5, nonlinearity="elu", dtype=np.float64, seed=5),
}
OPTIONS = ("activation", "activation_param", "recurrent_activation")


def first_layer(layer):
    """A one-layer copy of ``layer``'s layer 0: its output is what the panels show."""
    if layer.num_layers == 1:
        return layer.eval()
    one = type(layer)(layer.input_size, layer.hidden_size, bias=layer.bias, dtype=layer.dtype)
    one.load_state_dict({k: v for k, v in layer.state_dict().items() if k.endswith("_l0")})
    return one.eval()


@pytest.mark.parametrize("kind", LAYERS)
def test_activations_follow_the_layer(kind, rng):
    layer = LAYERS[kind]()
    x = rng.standard_normal((9, 3))
    acts = gate_activations(layer, x)
    cell = kind.split("_")[0]
    assert list(acts) == {"lstm": list("ifgoch"), "gru": list("rznh"), "rnn": ["h"]}[cell]
    assert all(a.shape == (9, 5) and a.dtype == np.float64
               for name, a in acts.items() if name != "h")
    y, state = first_layer(layer)(x[:, None, :])
    assert_close(f"{kind} h", acts["h"], y[:, 0], 1e-12)
    if cell == "lstm":
        assert_close("c at the last step", acts["c"][-1], state[1][0, 0], 1e-12)
    hard = layer.recurrent_activation == "hard_sigmoid"   # reaches 0 and 1
    for gate in "ifozr":
        if gate in acts:
            low, high = acts[gate].min(), acts[gate].max()
            assert (0 <= low and high <= 1) if hard else (0 < low and high < 1), \
                f"gate {gate} leaves (0, 1)"
    # the same weights and options as a dict (with or without the _l0 suffix) and as a cell
    weights = {k: v for k, v in layer.state_dict().items() if k.endswith("_l0")}
    if kind == "rnn_relu":
        weights["nonlinearity"] = "relu"
    elif kind.endswith("options"):                       # names without the suffix
        weights = {k.removesuffix("_l0"): w for k, w in weights.items()}
        weights.update({k: getattr(layer, k) for k in OPTIONS})
    assert_close("dict", gate_activations(weights, x[:, None, :])["h"], acts["h"], 1e-12)


def test_cell_and_float32_input(rng):
    cell = lstmx.GRUCell(4, 6, seed=3)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    acts = gate_activations(cell, x)
    h = None
    for t in range(5):
        h = cell.eval()(x[t:t + 1], h)
        assert_close(f"h[{t}]", acts["h"][t], h[0], 1e-5)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="input_size=3"):
        gate_activations(lstmx.LSTM(3, 4), np.zeros((5, 2, 3)))
    with pytest.raises(TypeError, match="str"):
        gate_activations("lstm", np.zeros((5, 3)))
    with pytest.raises(ValueError, match="G\\*H"):
        gate_activations({"weight_ih": np.zeros((10, 3)), "weight_hh": np.zeros((10, 5))},
                         np.zeros((2, 3)))


def test_plot_gates_writes_png_for_a_char_model(tmp_path):
    pytest.importorskip("matplotlib")
    text = "To be, or not to be"
    model = CharLM(CharVocab.from_text(text), hidden_size=16, seed=0).eval()
    path = tmp_path / "char_gates.png"
    acts = plot_gates(model.rnn, model.embed(model.vocab.encode(text)), path,
                      labels=list(text), title="char model")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    assert acts["h"].shape == (len(text), 16)
    with pytest.raises(ValueError, match="one entry per time step"):
        plot_gates(model.rnn, model.embed(model.vocab.encode(text)), path, labels=["a"])


def test_plot_gates_writes_png_for_a_copy_task_gru(tmp_path):
    pytest.importorskip("matplotlib")
    from lstmx.data.tasks import copy_task
    x, _ = copy_task(1, 6, bits=3, seed=0)
    path = tmp_path / "copy_gates.png"
    plot_gates(lstmx.GRU(4, 12, seed=0), x, path, max_units=8)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_matplotlib_says_so(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot_gates(lstmx.LSTM(2, 3), np.zeros((4, 2)), tmp_path / "never.png")
