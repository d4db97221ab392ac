"""Train a small float64 SequenceModel with the Trainer, for tests/test_distributed.py.

Imported by the test (``build``) to train in one process, and run under
``mpiexec -n N python train_steps.py ...`` to train data-parallel; rank 0 then writes the
parameters to ``--out`` (an .npz). The data are fixed rows; the epoch's batches are the rows
cut into batches of ``batch`` in order, so that N ranks with batch b take, at step s, the
rows the single process with batch N·b takes.
"""

import argparse
import sys

import numpy as np

from lstmx import distributed
from lstmx.nn import SequenceModel
from lstmx.optim import SGD, Adam
from lstmx.train import CrossEntropyLoss, MSELoss, Trainer

T, I, H, V = 5, 3, 6, 4           # steps, input features, hidden units, classes


def rows(n, seed=0):
    """n rows: x (T, n, I), lengths (n,), MSE targets (T, n, V), class ids (T, n)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, n, I))
    lengths = rng.integers(1, T + 1, size=n)
    y = rng.standard_normal((T, n, V))
    ids = rng.integers(0, V, size=(T, n))
    return x, lengths, y, ids


def batches(loss, batch, steps_rows):
    """The list of batches of ``batch`` rows over ``steps_rows`` rows, in order."""
    x, lengths, y, ids = rows(steps_rows)
    out = []
    for s in range(0, steps_rows, batch):
        sl = slice(s, s + batch)
        mask = np.arange(T)[:, None] < lengths[sl][None, :]
        if loss == "mse":       # no mask: a mean over every element
            out.append(((x[:, sl], lengths[sl]), y[:, sl]))
        elif loss == "masked-mse":
            out.append(((x[:, sl], lengths[sl]), y[:, sl], mask))
        else:                   # masked cross-entropy over the real steps
            out.append(((x[:, sl], lengths[sl]), ids[:, sl], mask))
    return out


class FailingMSE(MSELoss):
    """MSE that raises on its ``fail_call``-th forward (0-based) on rank ``fail_rank``."""

    def __init__(self, fail_rank, fail_call):
        super().__init__()
        self.fail_rank, self.fail_call, self.calls = fail_rank, fail_call, 0

    def forward(self, *args):
        if distributed.rank() == self.fail_rank and self.calls == self.fail_call:
            raise ValueError("injected failure")
        self.calls += 1
        return super().forward(*args)


def build(optimizer, loss, clip_norm=None, checkpoint_path=None, fail=None, distributed=None):
    """(model, trainer) of a test case; ``fail``: (rank, forward call) to raise at."""
    model = SequenceModel({"cell": "lstm", "input_size": I, "hidden_size": H,
                           "output_size": V, "output": "all", "dtype": "float64", "seed": 1})
    opt = (SGD(model.parameters(), lr=0.3, momentum=0.9) if optimizer == "sgd"
           else Adam(model.parameters(), lr=0.01))
    loss_fn = (FailingMSE(*fail) if fail else CrossEntropyLoss() if loss == "masked-ce"
               else MSELoss())
    trainer = Trainer(model, opt, loss_fn, clip_norm=clip_norm, checkpoint_path=checkpoint_path,
                      shuffle=False, progress=False, distributed=distributed)
    return model, trainer


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--loss", default="mse")
    p.add_argument("--batch", type=int, default=3, help="rows per rank and step")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--clip", type=float, default=None)
    p.add_argument("--checkpoint", default=None)
    p.add_argument("--fail", type=int, nargs=2, default=None, metavar=("RANK", "CALL"))
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    model, trainer = build(args.optimizer, args.loss, args.clip, args.checkpoint,
                           args.fail)
    data = batches(args.loss, args.batch, args.steps * args.batch * distributed.size())
    trainer.fit(data, epochs=args.epochs)
    if distributed.rank() == 0 and args.out:
        np.savez(args.out, **model.state_dict(),
                 train_loss=np.array([h["train_loss"] for h in trainer.history]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
