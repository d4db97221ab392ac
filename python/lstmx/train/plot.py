"""Training curves: ``plot_history(history, path)`` writes a PNG of a Trainer's history.

matplotlib is optional (``pip install lstmx[plot]``) and imported only when a plot is drawn.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any


def _pyplot():
    """matplotlib.pyplot, or an ImportError that says what to install."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install lstmx[plot]") from None
    return plt


def plot_history(history: Sequence[Mapping[str, Any]], path: str | os.PathLike[str],
                 title: str | None = None) -> str:
    """Write a PNG of training and validation curves to ``path``; returns ``path``.

    ``history``: the list of per-epoch dicts of ``Trainer.history`` (keys ``epoch``,
    ``train_loss``, ``val_loss``, ``lr``, ``metrics``; missing or None values are skipped).
    Panels: the losses, then one per validation metric, then the learning rate.

    Example::

        >>> trainer.fit(train, val, epochs=10)
        >>> plot_history(trainer.history, "curves.png")
    """
    if not history:
        raise ValueError("history is empty: nothing to plot (train at least one epoch)")
    plt = _pyplot()
    epochs = [h.get("epoch", i + 1) for i, h in enumerate(history)]

    def series(get):
        pts = [(e, get(h)) for e, h in zip(epochs, history)]
        return [e for e, v in pts if v is not None], [v for _, v in pts if v is not None]

    metric_names = sorted({k for h in history for k in (h.get("metrics") or {})})
    panels = ["loss"] + metric_names + ["lr"]
    fig, axes = plt.subplots(len(panels), 1, figsize=(6, 2.4 * len(panels)), sharex=True,
                             squeeze=False)
    axes = axes[:, 0]
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        xs, ys = series(lambda h, k=key: h.get(k))
        if xs:
            axes[0].plot(xs, ys, marker="o", ms=3, label=label)
    axes[0].set_ylabel("loss")
    axes[0].legend()
    for ax, name in zip(axes[1:-1], metric_names):
        xs, ys = series(lambda h, n=name: (h.get("metrics") or {}).get(n))
        ax.plot(xs, ys, marker="o", ms=3, color="tab:green")
        ax.set_ylabel(name)
    xs, ys = series(lambda h: h.get("lr"))
    axes[-1].plot(xs, ys, color="tab:gray")
    axes[-1].set_ylabel("learning rate")
    axes[-1].set_xlabel("epoch")
    for ax in axes:
        ax.grid(alpha=0.3)
    if title:
        axes[0].set_title(title)
    fig.tight_layout()
    path = os.fspath(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
