"""Next-step prediction of a noisy multivariate series with a bidirectional LSTM.

The series (lstmx.data.tasks.series_split) is a sum of sines with a trend plus noise, in
3 correlated features; every window of past steps is an input, the step after it the
target. The first 80% of the series trains, the last 20% validates. The model is
``lstmx.nn.SequenceModel``: a 2-layer bidirectional LSTM with layer normalisation and
dropout between layers, read out from its final states by a linear layer.

The model sees each window relative to its last value and predicts the change to the next
step, so the trend (which moves the level outside the training range) does not matter. The
naive forecast "the next value equals the last one" is the baseline to beat.

    python examples/sequence_prediction.py                       # ~15 s on one idle core
    python examples/sequence_prediction.py --plot history.png    # training curves
"""

import argparse
import sys
import time

import numpy as np

import lstmx
from lstmx.data.tasks import last_value_mse, make_batches, series_split
from lstmx.nn import SequenceModel
from lstmx.optim import Adam, ReduceLROnPlateau
from lstmx.train import EarlyStopping, MSELoss, Trainer, plot_history


def relative_windows(x, y, scale):
    """Windows relative to their last value: inputs ``x - x[-1]`` (W, N, F) and targets
    ``(y - x[-1]) / scale`` (N, F)."""
    last = x[-1]
    return np.ascontiguousarray(x - last), ((y - last) / scale).astype(x.dtype)


def train(num_steps=3000, window=24, hidden=32, epochs=15, batch_size=32, lr=3e-3,
          dropout=0.1, noise=0.1, seed=0, progress=True):
    """Train the model; returns ``(model, trainer, result)`` where ``result`` holds
    ``val_mse`` (the model's best validation MSE, in the series' units) and
    ``baseline_mse`` (the naive last-value forecast on the same windows)."""
    data = series_split(num_steps=num_steps, num_features=3, window=window, noise=noise,
                        seed=seed)
    F = data.train_y.shape[1]
    scale = float(np.std(data.train_y - data.train_x[-1]))
    train_x, train_y = relative_windows(data.train_x, data.train_y, scale)
    val_x, val_y = relative_windows(data.val_x, data.val_y, scale)

    model = SequenceModel({"cell": "lstm", "input_size": F, "hidden_size": hidden,
                           "num_layers": 2, "bidirectional": True, "layer_norm": True,
                           "dropout": dropout, "output_size": F, "output": "last",
                           "seed": seed})
    optimizer = Adam(model.parameters(), lr=lr)

    def val_mse(model, batches):
        # mean squared error of the forecast, back in the series' units
        err = [np.mean((model(x) - y).astype(np.float64) ** 2) * y.shape[0] for x, y in batches]
        return float(np.sum(err) / sum(y.shape[0] for _, y in batches)) * scale ** 2

    trainer = Trainer(model, optimizer, MSELoss(), clip_norm=1.0,
                      schedule=ReduceLROnPlateau(optimizer, factor=0.5, patience=2),
                      metrics={"val_mse": val_mse},
                      early_stopping=EarlyStopping("val_mse", patience=4, restore_best=True),
                      seed=seed, progress=progress)
    trainer.fit(make_batches(train_x, train_y, batch_size),
                make_batches(val_x, val_y, 256), epochs=epochs)
    result = {"val_mse": trainer.early_stopping.best,
              "baseline_mse": last_value_mse(data.val_x, data.val_y)}
    return model, trainer, result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3000, help="length of the series")
    ap.add_argument("--window", type=int, default=24, help="past steps the model sees")
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--noise", type=float, default=0.1, help="noise std of the series")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot", metavar="PATH", help="write the training curves as a PNG")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    start = time.perf_counter()
    _, trainer, result = train(args.steps, args.window, args.hidden, args.epochs, args.batch,
                               args.lr, args.dropout, args.noise, args.seed,
                               progress=not args.quiet)
    ratio = result["val_mse"] / result["baseline_mse"]
    print(f"validation MSE {result['val_mse']:.5f}  naive last-value MSE "
          f"{result['baseline_mse']:.5f}  ratio {ratio:.2f}  "
          f"({trainer.epoch} epochs, {time.perf_counter() - start:.1f} s, "
          f"{lstmx.get_num_threads()} threads)")
    if args.plot:
        print(f"wrote {plot_history(trainer.history, args.plot, title='sequence prediction')}")
    return 0 if ratio < 1 else 1


if __name__ == "__main__":
    sys.exit(main())
