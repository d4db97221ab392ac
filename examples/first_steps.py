"""First steps with lstmx: train an LSTM to add up a sequence, with explicit backward.

The task: read T numbers in [-1, 1] and output their running sum at every step. The model
is one lstmx.LSTM layer and a linear read-out written in NumPy; the loss is the mean
squared error; the update is plain SGD with momentum. Everything a training step does is
on the page: forward, loss, backward through the read-out, backward through the LSTM
(native BPTT), parameter update.

    python examples/first_steps.py            # a few seconds on 2 cores
    python examples/first_steps.py --steps 100
"""

import argparse
import time

import numpy as np

import lstmx


def make_batch(rng, T, B):
    x = rng.uniform(-1, 1, size=(T, B, 1)).astype(np.float32)
    return x, np.cumsum(x, axis=0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    lstm = lstmx.LSTM(1, args.hidden, seed=args.seed)
    w_out = (rng.standard_normal((args.hidden, 1)) / np.sqrt(args.hidden)).astype(np.float32)
    b_out = np.zeros(1, np.float32)
    params = lstm.parameters()
    velocity = [np.zeros_like(p.data) for p in params] + [np.zeros_like(w_out), np.zeros_like(b_out)]

    print(lstmx.build_info())
    x_val, t_val = make_batch(np.random.default_rng(12345), args.seq_len, 256)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        x, target = make_batch(rng, args.seq_len, args.batch)
        # forward: LSTM over the whole sequence (native), then a linear read-out per step
        y, _ = lstm(x)
        pred = y @ w_out + b_out
        err = pred - target
        loss = float(np.mean(err ** 2))
        # backward: MSE -> read-out -> LSTM (native BPTT); parameter grads accumulate
        dpred = 2 * err / err.size
        dw_out = y.reshape(-1, args.hidden).T @ dpred.reshape(-1, 1)
        db_out = dpred.sum(axis=(0, 1))
        lstm.zero_grad()
        lstm.backward(dpred @ w_out.T)
        # SGD with momentum 0.9, gradients clipped to a global norm of 1
        grads = [p.grad for p in params] + [dw_out, db_out]
        norm = np.sqrt(sum(float(np.sum(g * g)) for g in grads))
        scale = min(1.0, 1.0 / (norm + 1e-12))
        for v, g, target_array in zip(velocity, grads, [p.data for p in params] + [w_out, b_out]):
            v *= 0.9
            v += scale * g
            target_array -= args.lr * v
        if step % 250 == 0 or step == 1:
            lstm.eval()
            val_pred = lstm(x_val)[0] @ w_out + b_out
            lstm.train()
            val = float(np.mean((val_pred - t_val) ** 2))
            baseline = float(np.mean((t_val - t_val.mean()) ** 2))
            print(f"step {step:4d}  train MSE {loss:.4f}  validation MSE {val:.4f} "
                  f"(predicting the mean: {baseline:.3f})  {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
