"""Copy task: an LSTM learns to remember a random bit sequence and repeat it.

Each sequence shows L random 8-bit vectors, then a delimiter; during the next L steps the
input is silent and the model must output the bits it saw, in order (lstmx.data.tasks
.copy_task). The model is ``lstmx.LSTM`` with a ``lstmx.nn.Linear`` read-out, trained from
scratch with Adam on binary cross-entropy by ``lstmx.train.Trainer``; every epoch draws fresh
random sequences, and training stops once the per-bit accuracy on held-out sequences
reaches the target.

    python examples/copy_task.py                        # 8 steps of 8 bits: ~6 s on one core
    python examples/copy_task.py --plot gates.png       # gates and cell states of one sequence
    python examples/copy_task.py --bits 4 --hidden 64   # a smaller problem and model

--plot runs one held-out sequence through the NumPy reference LSTM cell with the trained
layer's weights (``lstmx.viz.gate_activations``), and draws the input, the
input/forget/output gates, the cell state and the output bits over time.
"""

import argparse
import sys
import time

import numpy as np

import lstmx
from lstmx.data.tasks import bit_accuracy, copy_task
from lstmx.nn import Linear
from lstmx.optim import Adam
from lstmx.train import BCEWithLogitsLoss, Trainer


class CopyModel(lstmx.Module):
    """LSTM + linear read-out of the output period.

    ``forward(x (2L+1, B, bits+1)) -> logits (L, B, bits)``: the read-out is applied to the
    LSTM outputs of the last L steps (the copy task's output period).
    ``backward(dlogits (L, B, bits)) -> dx``.
    """

    def __init__(self, bits=8, hidden_size=128, seed=0):
        super().__init__()
        self.config = {"bits": int(bits), "hidden_size": int(hidden_size)}
        self.lstm = lstmx.LSTM(bits + 1, hidden_size, seed=seed, forget_bias=1.0)
        self.head = Linear(hidden_size, bits, seed=seed + 1)
        self._steps = None

    @classmethod
    def from_config(cls, config, seed=0):
        return cls(config["bits"], config["hidden_size"], seed=seed)

    def forward(self, x):
        T = x.shape[0]
        if T < 3 or T % 2 == 0:
            raise ValueError(f"x must have 2 * length + 1 steps (odd, >= 3), got T={T}")
        y, _ = self.lstm(x)
        self._steps = T
        return self.head(y[T - (T - 1) // 2:])

    def backward(self, dlogits):
        T, L = self._steps, (self._steps - 1) // 2
        dout = self.head.backward(dlogits)
        dy = np.zeros((T,) + dout.shape[1:], dtype=dout.dtype)
        dy[T - L:] = dout
        dx, _ = self.lstm.backward(dy)
        return dx


def accuracy_metric(model, batches):
    """Per-bit accuracy over validation batches (model in eval mode)."""
    right = total = 0
    for x, y in batches:
        right += bit_accuracy(model(x), y) * y.size
        total += y.size
    return right / total


def train(length=8, bits=8, hidden=128, batch_size=32, batches_per_epoch=50, max_epochs=60,
          lr=1e-2, target=0.99, seed=0, progress=True):
    """Train until held-out per-bit accuracy >= ``target`` (or ``max_epochs``).

    Returns ``(model, trainer)``; ``trainer.history[-1]["metrics"]["bit_accuracy"]`` is the
    last accuracy, measured on 1000 fresh sequences of ``length``.
    """
    model = CopyModel(bits, hidden, seed=seed)
    trainer = Trainer(model, Adam(model.parameters(), lr=lr), BCEWithLogitsLoss(),
                      clip_norm=1.0, metrics={"bit_accuracy": accuracy_metric}, seed=seed,
                      progress=progress)

    def train_batches(epoch):
        # fresh sequences every epoch, reproducible from (seed, epoch)
        rng = np.random.default_rng([seed, 1, epoch])
        return [copy_task(batch_size, length, bits, seed=rng) for _ in range(batches_per_epoch)]

    held_out = [copy_task(250, length, bits, seed=[seed, 2, i]) for i in range(4)]
    for epoch in range(1, max_epochs + 1):
        trainer.fit(train_batches, held_out, epochs=epoch)   # epochs counts the total
        if trainer.history[-1]["metrics"]["bit_accuracy"] >= target:
            break
    return model, trainer


def plot_gates(model, path, length=8, seed=123):
    """Draw inputs, gates i/f/o, cell states and output bits of one sequence to ``path``."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("--plot needs matplotlib: pip install lstmx[plot]") from None
    from lstmx.viz import gate_activations

    x, y = copy_task(1, length, model.config["bits"], seed=seed)
    lstm = model.lstm
    acts = gate_activations(lstm, x)
    gate = {g: acts[g].T for g in ("i", "f", "o")}   # (H, T)
    cells = acts["c"].T                              # the cell state after each step
    model.eval()
    T, L = x.shape[0], length
    out = np.full((model.config["bits"], T), np.nan)   # blank before the output period
    out[:, T - L:] = 1 / (1 + np.exp(-model(x)[:, 0, :].T))
    model.train()
    rows = [("input (bits, delimiter)", x[:, 0, :].T, "Greys", (0, 1)),
            ("input gate i", gate["i"], "viridis", (0, 1)),
            ("forget gate f", gate["f"], "viridis", (0, 1)),
            ("output gate o", gate["o"], "viridis", (0, 1)),
            ("cell state c", cells, "RdBu_r", (-np.abs(cells).max(), np.abs(cells).max())),
            ("output P(bit = 1) in the output period", out, "Greys", (0, 1))]
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 11), sharex=True,
                             gridspec_kw={"height_ratios": [1, 3, 3, 3, 3, 1]})
    for ax, (title, data, cmap, (lo, hi)) in zip(axes, rows):
        im = ax.imshow(data, aspect="auto", cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("unit" if data.shape[0] == lstm.hidden_size else "channel", fontsize=8)
        fig.colorbar(im, ax=ax, pad=0.01)
    axes[-1].set_xlabel("time step")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=int, default=8, help="bits to copy (default 8)")
    ap.add_argument("--bits", type=int, default=8, help="bits per step (default 8)")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches-per-epoch", type=int, default=50)
    ap.add_argument("--max-epochs", type=int, default=60)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--target", type=float, default=0.99, help="stop at this accuracy")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", metavar="PATH", help="write a PNG of gates and cell states")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    model, trainer = train(args.length, args.bits, args.hidden, args.batch,
                           args.batches_per_epoch, args.max_epochs, args.lr, args.target,
                           args.seed, progress=not args.quiet)
    seconds = time.perf_counter() - start
    acc = trainer.history[-1]["metrics"]["bit_accuracy"]
    print(f"held-out per-bit accuracy {acc:.4f} on length-{args.length} sequences after "
          f"{trainer.epoch} epochs, {seconds:.1f} s wall time "
          f"({lstmx.get_num_threads()} threads)")
    if args.plot:
        print(f"wrote {plot_gates(model, args.plot, args.length)}")
    return 0 if acc >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
