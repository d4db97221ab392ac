"""Gate activations over time: what an LSTM or GRU does while it reads one sequence.

``gate_activations`` runs the first layer (forward direction) of a recurrent layer step by
step through the NumPy reference cells (``lstmx.reference``), in float64, and keeps every
gate of every step; ``plot_gates`` draws them as heatmaps (hidden units × time steps), one
panel per gate and state:

    LSTM   i input gate, f forget gate, o output gate (0..1), g candidate, h hidden (−1..1),
           c cell state (unbounded, colour scale symmetric around 0)
    GRU    r reset gate, z update gate (0..1), n candidate, h hidden (−1..1)
    RNN    h hidden

matplotlib is optional (``pip install matplotlib``) and imported only when a plot is drawn.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import reference
from ..nn.cells import GRUCell, LSTMCell, RNNCell
from ..nn.recurrent import GRU, LSTM, RNN

__all__ = ["gate_activations", "plot_gates"]

# panel name -> (title, colour map, value range or None for symmetric around 0)
_PANELS = {
    "i": ("input gate i", "viridis", (0.0, 1.0)),
    "f": ("forget gate f", "viridis", (0.0, 1.0)),
    "o": ("output gate o", "viridis", (0.0, 1.0)),
    "r": ("reset gate r", "viridis", (0.0, 1.0)),
    "z": ("update gate z", "viridis", (0.0, 1.0)),
    "g": ("candidate g", "RdBu_r", (-1.0, 1.0)),
    "n": ("candidate n", "RdBu_r", (-1.0, 1.0)),
    "c": ("cell state c", "RdBu_r", None),
    "h": ("hidden state h", "RdBu_r", (-1.0, 1.0)),
}
_ORDER = {"lstm": "ifgoch", "gru": "rznh", "rnn": "h"}
_Layer = LSTM | GRU | RNN | LSTMCell | GRUCell | RNNCell | Mapping[str, Any]
_KINDS = {LSTM: "lstm", LSTMCell: "lstm", GRU: "gru", GRUCell: "gru", RNN: "rnn", RNNCell: "rnn"}


def _weights(layer_or_weights):
    """(kind, nonlinearity, w_ih, w_hh, b_ih, b_hh) as float64 arrays."""
    obj = layer_or_weights
    if isinstance(obj, dict):
        w = {k[:-3] if k.endswith("_l0") else k: np.asarray(v, np.float64)
             for k, v in obj.items() if k != "nonlinearity"}
        if "weight_ih" not in w or "weight_hh" not in w:
            raise ValueError("a weights dict needs 'weight_ih' and 'weight_hh' (optionally with "
                             f"'_l0' and biases 'bias_ih', 'bias_hh'), got keys {sorted(obj)}")
        gates = w["weight_hh"].shape[0] // max(w["weight_hh"].shape[1], 1)
        kind = {4: "lstm", 3: "gru", 1: "rnn"}.get(gates)
        if kind is None or w["weight_hh"].shape[0] != gates * w["weight_hh"].shape[1]:
            raise ValueError(f"weight_hh must have shape (G*H, H) with G = 4 (LSTM), 3 (GRU) or "
                             f"1 (RNN), got {w['weight_hh'].shape}")
        nonlinearity = obj.get("nonlinearity", "tanh")
    else:
        kind = next((k for cls, k in _KINDS.items() if isinstance(obj, cls)), None)
        if kind is None:
            raise TypeError(f"layer_or_weights must be an lstmx LSTM, GRU, RNN, a cell or a "
                            f"dict of weights, got {type(obj).__name__}")
        sfx = "" if isinstance(obj, (LSTMCell, GRUCell, RNNCell)) else "_l0"
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if obj.bias else [])
        w = {n: getattr(obj, n + sfx).data.astype(np.float64) for n in names}
        nonlinearity = getattr(obj, "nonlinearity", "tanh")
    zeros = np.zeros(w["weight_hh"].shape[0])
    return (kind, nonlinearity, w["weight_ih"], w["weight_hh"], w.get("bias_ih", zeros),
            w.get("bias_hh", zeros))


def gate_activations(layer_or_weights: _Layer, x: ArrayLike) -> dict[str, np.ndarray]:
    """Every gate and state of the first layer at every step of one sequence.

    Args:
        layer_or_weights: an lstmx ``LSTM``/``GRU``/``RNN`` (its layer 0, forward direction),
            an ``LSTMCell``/``GRUCell``/``RNNCell``, or a dict with ``weight_ih``,
            ``weight_hh`` and optionally ``bias_ih``, ``bias_hh`` (names may end in ``_l0``;
            the kind follows from ``weight_hh``'s shape; ``"nonlinearity"`` for an RNN).
        x: one input sequence ``(T, I)`` (or ``(T, 1, I)``), any float dtype.

    Returns:
        ``{name: (T, H) float64 array}`` in plotting order, names as in the module
        docstring (LSTM: i, f, g, o, c, h; GRU: r, z, n, h; RNN: h).

    Example::

        >>> acts = gate_activations(lstmx.LSTM(3, 8, seed=0), np.ones((5, 3)))
        >>> list(acts), acts["f"].shape
        (['i', 'f', 'g', 'o', 'c', 'h'], (5, 8))
    """
    kind, nonlinearity, w_ih, w_hh, b_ih, b_hh = _weights(layer_or_weights)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != w_ih.shape[1]:
        raise ValueError(f"x must be one sequence of shape (T, input_size={w_ih.shape[1]}) "
                         f"or (T, 1, {w_ih.shape[1]}) with T >= 1, got {x.shape}")
    steps: dict[str, list[np.ndarray]] = {name: [] for name in _ORDER[kind]}
    h: np.ndarray | None = None
    c: np.ndarray | None = None
    for x_t in x:
        x_t = x_t[None, :]
        if kind == "lstm":
            h, c, cache = reference.lstm_cell_forward(x_t, h, c, w_ih, w_hh, b_ih, b_hh)
            values = dict(cache["step"], c=c, h=h)
        elif kind == "gru":
            h, cache = reference.gru_cell_forward(x_t, h, w_ih, w_hh, b_ih, b_hh)
            values = dict(cache["step"], h=h)
        else:
            h, _ = reference.rnn_cell_forward(x_t, h, w_ih, w_hh, b_ih, b_hh, nonlinearity)
            values = {"h": h}
        for name in steps:
            steps[name].append(values[name][0])
    return {name: np.array(v) for name, v in steps.items()}


def _figure_class():
    """matplotlib's Figure (no pyplot, no GUI backend), or an ImportError saying what to do."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plot_gates needs matplotlib: pip install matplotlib") from None
    return Figure


def plot_gates(layer_or_weights: _Layer, x: ArrayLike, path: str | os.PathLike[str],
               labels: Iterable[Any] | None = None, max_units: int = 64,
               title: str | None = None) -> dict[str, np.ndarray]:
    """Write heatmaps of the gates and states of one sequence to ``path`` (PNG); returns the
    activations ``gate_activations(layer_or_weights, x)``.

    Args:
        layer_or_weights, x: as for ``gate_activations``.
        path: the image file (its extension picks the format: .png, .svg, .pdf).
        labels: one label per time step for the x axis (e.g. the characters a char model
            read), or None for step numbers.
        max_units: show at most this many hidden units (the first ones).
        title: the figure's title.

    Example::

        >>> ids = model.vocab.encode("To be, or not to be")
        >>> plot_gates(model.rnn, model.embed(ids), "gates.png", labels=list("To be, or not to be"))
    """
    acts = gate_activations(layer_or_weights, x)
    T = next(iter(acts.values())).shape[0]
    if labels is not None:
        labels = [str(s) for s in labels]
        if len(labels) != T:
            raise ValueError(f"labels must have one entry per time step ({T}), "
                             f"got {len(labels)}")
    Figure = _figure_class()
    H = min(next(iter(acts.values())).shape[1], int(max_units))
    fig = Figure(figsize=(min(4.0 + 0.18 * T, 30.0), 1.2 + len(acts) * (0.6 + 0.03 * H)),
                 layout="constrained")
    axes = fig.subplots(len(acts), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, values) in zip(axes, acts.items()):
        label, cmap, limits = _PANELS[name]
        if limits is None:
            bound = float(np.max(np.abs(values))) or 1.0
            limits = (-bound, bound)
        image = ax.imshow(values[:, :H].T, aspect="auto", interpolation="nearest", cmap=cmap,
                          vmin=limits[0], vmax=limits[1])
        ax.set_ylabel("unit")
        ax.set_title(label, fontsize=9, loc="left")
        fig.colorbar(image, ax=ax, pad=0.01, fraction=0.02)
    if labels is not None:
        axes[-1].set_xticks(range(T))
        shown = ["\u2423" if s == " " else repr(s)[1:-1] for s in labels]  # ␣ for a space
        axes[-1].set_xticklabels(shown, fontsize=7,
                                 family="monospace")
    axes[-1].set_xlabel("time step")
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=100)
    return acts
