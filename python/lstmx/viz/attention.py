"""Attention heatmaps: which source token each output token looked at.

matplotlib is optional (``pip install matplotlib``) and imported only when a plot is drawn.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def _figure_class():
    """matplotlib's Figure (no pyplot, no GUI backend), or an ImportError saying what to do."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plot_attention needs matplotlib: pip install matplotlib "
                          "(or pip install lstmx[plot])") from None
    return Figure


def plot_attention(src_tokens: Iterable[Any], tgt_tokens: Iterable[Any], weights: ArrayLike,
                   path: str | os.PathLike[str], title: str | None = None
                   ) -> str | os.PathLike[str]:
    """Write a heatmap PNG of attention ``weights (T_tgt, T_src)`` to ``path``; returns path.

    Row t is the distribution over source tokens used to produce ``tgt_tokens[t]``; columns
    are labelled with ``src_tokens``. Shapes must agree (ValueError otherwise).

    Example::

        >>> t = model.translate("How are you?", return_attention=True)
        >>> plot_attention(t.source_tokens, t.tokens, t.attention, "attention.png")
    """
    src_tokens, tgt_tokens = [str(s) for s in src_tokens], [str(t) for t in tgt_tokens]
    weights = np.asarray(weights, dtype=np.float64)
    want = (len(tgt_tokens), len(src_tokens))
    if weights.ndim != 2 or weights.shape != want:
        raise ValueError(f"weights must have shape (len(tgt_tokens), len(src_tokens)) = {want}, "
                         f"got {weights.shape}")
    if weights.size == 0:
        raise ValueError("nothing to plot: src_tokens and tgt_tokens must both be non-empty")
    Figure = _figure_class()
    rows, cols = want
    fig = Figure(figsize=(1.2 + 0.45 * cols, 1.0 + 0.4 * rows), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(cols), src_tokens, rotation=60, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(rows), tgt_tokens)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path
