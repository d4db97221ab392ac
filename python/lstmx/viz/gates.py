"""Gate activations over time: what an LSTM or GRU does while it reads one sequence.

``gate_activations`` runs the first layer (forward direction) of a recurrent layer step by
step through the NumPy reference cells (``lstmx.reference``), in float64, and keeps every
gate of every step, with the layer's own options (activations, layer norm, projection);
``plot_gates`` draws them as heatmaps (hidden units × time steps), one panel per gate and
state:

    LSTM   i input gate, f forget gate, o output gate (0..1), g candidate, h hidden (−1..1
           with tanh), c cell state (unbounded: colour scale symmetric around 0, as for g, n
           and h when they leave −1..1)
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
from ..nn.options import PARAM_KEYS
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
# lstmx parameter names (without the _l0 suffix) -> the reference's parameter keys
_KEYS = {stem: key for key, stem in PARAM_KEYS.items()}
_OPTIONS = ("activation", "activation_param", "recurrent_activation")


def _cell(layer_or_weights):
    """(kind, reference params as float64, reference options) of layer 0, forward direction."""
    obj = layer_or_weights
    kind = None
    if isinstance(obj, Mapping):
        named = obj
        options = {k: obj[k] for k in _OPTIONS if k in obj}
        if "nonlinearity" in obj:
            options["activation"] = obj["nonlinearity"]
    else:
        kind = next((k for cls, k in _KINDS.items() if isinstance(obj, cls)), None)
        if kind is None:
            raise TypeError(f"layer_or_weights must be an lstmx LSTM, GRU, RNN, a cell or a "
                            f"dict of weights, got {type(obj).__name__}")
        named = {name: p.data for name, p in obj.named_parameters()}
        options = {k: getattr(obj, k) for k in _OPTIONS}
    params = {}
    for name, value in named.items():
        stem = name.removesuffix("_l0")
        if stem in _KEYS:
            params[_KEYS[stem]] = np.asarray(value, np.float64)
    if "w_ih" not in params or "w_hh" not in params:
        raise ValueError("a weights dict needs 'weight_ih' and 'weight_hh' (optionally with "
                         "'_l0', biases 'bias_ih', 'bias_hh', a projection 'weight_hr', layer "
                         f"norm 'ln_*'), got keys {sorted(obj)}")
    if kind is None:
        w_hh = params["w_hh"]
        H = max(params["w_hr"].shape[1] if "w_hr" in params else w_hh.shape[1], 1)
        kind = {4: "lstm", 3: "gru", 1: "rnn"}.get(w_hh.shape[0] // H)
        if kind is None or w_hh.shape[0] % H:
            raise ValueError(f"weight_hh must have shape (G*H, H) with G = 4 (LSTM), 3 (GRU) "
                             f"or 1 (RNN), got {w_hh.shape}")
    if kind == "rnn":
        options.pop("recurrent_activation", None)
    else:
        options["layer_norm"] = "ln_ih_w" in params
    return kind, params, options


def gate_activations(layer_or_weights: _Layer, x: ArrayLike) -> dict[str, np.ndarray]:
    """Every gate and state of the first layer at every step of one sequence, computed with
    the layer's own options (activations, layer norm, projection).

    Args:
        layer_or_weights: an lstmx ``LSTM``/``GRU``/``RNN`` (its layer 0, forward direction),
            an ``LSTMCell``/``GRUCell``/``RNNCell``, or a dict with ``weight_ih``,
            ``weight_hh`` and optionally ``bias_ih``, ``bias_hh``, ``weight_hr``, the layer-norm
            ``ln_*`` parameters (names may end in ``_l0``; the kind follows from
            ``weight_hh``'s shape), ``"activation"`` (or ``"nonlinearity"``),
            ``"activation_param"``, ``"recurrent_activation"``.
        x: one input sequence ``(T, I)`` (or ``(T, 1, I)``), any float dtype.

    Returns:
        ``{name: (T, H) float64 array}`` in plotting order, names as in the module
        docstring (LSTM: i, f, g, o, c, h; GRU: r, z, n, h; RNN: h); h is (T, proj_size)
        for an LSTM with a projection.

    Example::

        >>> acts = gate_activations(lstmx.LSTM(3, 8, seed=0), np.ones((5, 3)))
        >>> list(acts), acts["f"].shape
        (['i', 'f', 'g', 'o', 'c', 'h'], (5, 8))
    """
    kind, params, options = _cell(layer_or_weights)
    x = np.asarray(x, dtype=np.float64)
    I = params["w_ih"].shape[1]
    if x.ndim == 3 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] != I:
        raise ValueError(f"x must be one sequence of shape (T, input_size={I}) "
                         f"or (T, 1, {I}) with T >= 1, got {x.shape}")
    steps: dict[str, list[np.ndarray]] = {name: [] for name in _ORDER[kind]}
    h: np.ndarray | None = None
    c: np.ndarray | None = None
    for x_t in x:
        x_t = x_t[None, :]
        if kind == "lstm":
            h, c, cache = reference.lstm_cell_forward(x_t, h, c, params, **options)
            values = dict(cache["steps"][0], c=c, h=h)
        elif kind == "gru":
            h, cache = reference.gru_cell_forward(x_t, h, params, **options)
            values = dict(cache["steps"][0], h=h)
        else:
            h, _ = reference.rnn_cell_forward(x_t, h, params, **options)
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
        if limits is None or values.min() < limits[0] or values.max() > limits[1]:
            # unbounded: the cell state, or a candidate or h of another activation than tanh
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
