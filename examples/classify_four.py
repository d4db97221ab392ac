"""Many-to-one classification of sequences of 4 numbers, the smallest LSTM example.

Each sequence is 4 numbers in [0, 1); its label is 1 when the last number is larger than
the first (lstmx.data.tasks.four_numbers), so the model has to carry the first number
through the sequence. A one-layer ``lstmx.LSTM`` reads the 4 steps, a ``lstmx.nn.Linear``
maps its final hidden state to one score, and Adam minimises the mean squared error between
score and label; a score above 0.5 predicts class 1.

    python examples/classify_four.py          # a few seconds
"""

import argparse
import sys
import time

import numpy as np

import lstmx
from lstmx.data.tasks import four_numbers, make_batches
from lstmx.nn import Linear
from lstmx.optim import Adam
from lstmx.train import MSELoss, Trainer


class LastStepClassifier(lstmx.Module):
    """LSTM over the sequence, linear read-out of its final hidden state.

    ``forward(x (T, B, I)) -> scores (B, out)``; ``backward(dscores (B, out)) -> dx``.
    """

    def __init__(self, input_size=1, hidden_size=16, out_size=1, seed=0):
        super().__init__()
        self.config = {"input_size": int(input_size), "hidden_size": int(hidden_size),
                       "out_size": int(out_size)}
        self.lstm = lstmx.LSTM(input_size, hidden_size, seed=seed)
        self.head = Linear(hidden_size, out_size, seed=seed + 1)

    @classmethod
    def from_config(cls, config, seed=0):
        return cls(**config, seed=seed)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return self.head(h_n[-1])

    def backward(self, dscores):
        dh = self.head.backward(dscores)
        dx, _ = self.lstm.backward(None, (dh[None], None))
        return dx


def accuracy(model, batches):
    """Fraction of sequences whose score falls on the label's side of 0.5."""
    right = sum(int(np.sum((model(x) > 0.5) == (y > 0.5))) for x, y in batches)
    return right / sum(y.shape[0] for _, y in batches)


def train(num_train=1000, num_val=500, hidden=16, epochs=30, batch_size=20, lr=1e-2, seed=0,
          progress=True):
    """Train on ``num_train`` sequences; returns ``(model, trainer)``. The validation
    accuracy of each epoch is ``trainer.history[k]["metrics"]["accuracy"]``."""
    x, y = four_numbers(num_train, seed=[seed, 1])
    vx, vy = four_numbers(num_val, seed=[seed, 2])
    model = LastStepClassifier(1, hidden, 1, seed=seed)
    trainer = Trainer(model, Adam(model.parameters(), lr=lr), MSELoss(),
                      metrics={"accuracy": accuracy}, seed=seed, progress=progress)
    trainer.fit(make_batches(x, y, batch_size), make_batches(vx, vy, 250), epochs=epochs)
    return model, trainer


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=int, default=1000, help="training sequences")
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    model, trainer = train(args.train, 500, args.hidden, args.epochs, lr=args.lr,
                           seed=args.seed, progress=not args.quiet)
    acc = trainer.history[-1]["metrics"]["accuracy"]
    print(f"validation accuracy {acc:.3f} after {trainer.epoch} epochs "
          f"({time.perf_counter() - start:.1f} s)")
    model.eval()
    for seq in ([0.1, 0.5, 0.2, 0.9], [0.8, 0.1, 0.9, 0.3]):
        x = np.array(seq, np.float32).reshape(4, 1, 1)
        print(f"{seq} -> score {model(x)[0, 0]:.2f} (label {int(seq[3] > seq[0])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
