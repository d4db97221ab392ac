"""lstmx next to PyTorch (and TensorFlow/Keras when installed): same weights, same answers, speed.

For each cell (LSTM, GRU) a seeded ``torch.nn`` layer is converted with
``lstmx.interop.from_torch``, so both hold the same weights. Then:

1. agreement: the same input x and output gradient dy go through both; the script prints the
   largest absolute difference of the outputs, the final states, dx and every parameter
   gradient (float32, so differences of about 1e-6 are rounding);
2. speed: forward (inference: lstmx ``eval()``, torch ``no_grad()``) and forward + backward
   (training: input and parameter gradients) for the same work, median seconds over
   ``--repeats`` calls after ``--warmup`` calls, the libraries interleaved call by call so that
   machine noise hits them alike, each using ``--threads`` threads.

Keras (TensorFlow's) runs as a third column for single-layer, one-direction layers when
TensorFlow is installed; otherwise the script says that it is skipped.

    python examples/comparison.py                      # LSTM and GRU, T=50 B=32 I=H=256
    python examples/comparison.py --cells lstm --T 100 --B 8 --H 512 --threads 2
    python examples/comparison.py --layers 2 --bidirectional
"""

import argparse
import os
import statistics
import time

# NumPy's OpenBLAS threads spin after each call and steal the cores of the next call on small
# machines; make them sleep at once (must be set before NumPy loads).
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402

# lstmx before torch: both need an OpenMP runtime called libgomp.so.1 and the first one
# loaded serves both; this keeps the one lstmx was built against.
import lstmx  # noqa: E402
from lstmx.interop import from_torch  # noqa: E402

try:
    import torch
except ImportError:
    raise SystemExit("this example compares lstmx with PyTorch, which is not installed: "
                     'pip install "torch==2.13.0" (the CPU build lstmx is tested with)')


def keras_or_none():
    """tf.keras when TensorFlow is installed, else None (the column is skipped)."""
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return tf


# ---------------------------------------------------------------------------------------
# agreement
# ---------------------------------------------------------------------------------------


def max_abs(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def lstmx_pass(layer, x, dy):
    """Outputs, final states, dx and parameter grads of one training pass of an lstmx layer."""
    layer.train()
    layer.zero_grad()
    y, state = layer(x)
    dx, _ = layer.backward(dy)
    states = state if isinstance(state, tuple) else (state,)
    grads = {name: p.grad.copy() for name, p in layer.named_parameters()}
    return y, states, dx, grads


def torch_pass(module, x, dy):
    """The same for a torch module (autograd)."""
    module.zero_grad()
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    y, state = module(xt)
    y.backward(torch.from_numpy(dy))
    states = state if isinstance(state, tuple) else (state,)
    grads = {name: p.grad.numpy().copy() for name, p in module.named_parameters()}
    return y.detach().numpy(), [s.detach().numpy() for s in states], xt.grad.numpy(), grads


def report_agreement(cell, layer, module, x, dy, tf):
    y, states, dx, grads = lstmx_pass(layer, x, dy)
    ty, tstates, tdx, tgrads = torch_pass(module, x, dy)
    names = ["h_n", "c_n"][:len(states)]
    print(f"\n{cell.upper()} agreement with torch.nn.{type(module).__name__} "
          f"(max |lstmx - torch|, float32):")
    pairs = [("y", y, ty)] + list(zip(names, states, tstates)) + [("dx", dx, tdx)]
    pairs += [("d" + name, grads[name], tgrads[name]) for name in grads]
    for name, a, b in pairs:
        print(f"  {name:22s} {max_abs(a, b):.2e}   (largest |torch| value: "
              f"{float(np.max(np.abs(b))):.2e})")
    if tf is not None and keras_compatible(layer):
        ky = keras_layer(tf, cell, layer, x.shape)(np.ascontiguousarray(x.transpose(1, 0, 2)))
        print(f"  {'y vs Keras':22s} {max_abs(y, np.asarray(ky[0]).transpose(1, 0, 2)):.2e}")


# ---------------------------------------------------------------------------------------
# Keras: the same weights in tf.keras.layers.LSTM / GRU (batch-major)
# ---------------------------------------------------------------------------------------


def keras_compatible(layer):
    return layer.num_layers == 1 and not layer.bidirectional and layer.bias


def keras_layer(tf, cell, layer, shape):
    """A built tf.keras LSTM/GRU holding ``layer``'s weights.

    Keras keeps kernels transposed, (I, G*H) and (H, G*H). Its LSTM gate order i, f, c, o is
    torch's i, f, g, o and it has one bias (b_ih + b_hh). Its GRU (reset_after=True, the
    default) orders the gates z, r, h where torch has r, z, n, and keeps both biases as a
    (2, 3H) array, input first.
    """
    T, B, I = shape
    H = layer.hidden_size
    w_ih, w_hh = layer.weight_ih_l0.data, layer.weight_hh_l0.data
    b_ih, b_hh = layer.bias_ih_l0.data, layer.bias_hh_l0.data
    if cell == "lstm":
        k = tf.keras.layers.LSTM(H, return_sequences=True, return_state=True)
        k.build((B, T, I))
        k.set_weights([w_ih.T, w_hh.T, b_ih + b_hh])
    else:
        order = np.concatenate([np.arange(H, 2 * H), np.arange(H), np.arange(2 * H, 3 * H)])
        k = tf.keras.layers.GRU(H, return_sequences=True, return_state=True, reset_after=True)
        k.build((B, T, I))
        k.set_weights([w_ih[order].T, w_hh[order].T, np.stack([b_ih[order], b_hh[order]])])
    return k


# ---------------------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------------------


def median_times(calls, warmup, repeats):
    """{name: median seconds} of each zero-argument callable, interleaved round-robin."""
    for _ in range(warmup):
        for fn in calls.values():
            fn()
    times = {name: [] for name in calls}
    for r in range(repeats):
        names = list(calls)
        names = names[r % len(names):] + names[:r % len(names)]  # rotate who goes first
        for name in names:
            start = time.perf_counter()
            calls[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def speed_calls(cell, layer, module, x, dy, tf):
    """{mode: {library: callable}} for forward and forward + backward."""
    xt, dyt = torch.from_numpy(x.copy()), torch.from_numpy(dy)

    def lstmx_fwd():
        layer.eval()
        layer(x)

    def lstmx_fwdbwd():
        layer.train()
        layer(x)
        layer.backward(dy)
        layer.zero_grad()

    def torch_fwd():
        with torch.no_grad():
            module(xt)

    def torch_fwdbwd():
        xg = xt.detach().requires_grad_(True)
        module(xg)[0].backward(dyt)
        module.zero_grad()

    calls = {"forward": {"lstmx": lstmx_fwd, "torch": torch_fwd},
             "forward+backward": {"lstmx": lstmx_fwdbwd, "torch": torch_fwdbwd}}
    if tf is not None and keras_compatible(layer):
        k = keras_layer(tf, cell, layer, x.shape)
        xk = tf.constant(np.ascontiguousarray(x.transpose(1, 0, 2)))
        dyk = tf.constant(np.ascontiguousarray(dy.transpose(1, 0, 2)))

        def keras_fwd():
            k(xk, training=False)

        def keras_fwdbwd():
            with tf.GradientTape() as tape:
                tape.watch(xk)
                y = k(xk, training=True)[0]
            tape.gradient(y, [xk] + k.trainable_weights, output_gradients=dyk)

        calls["forward"]["keras"] = keras_fwd
        calls["forward+backward"]["keras"] = keras_fwdbwd
    return calls


def print_speed_table(rows, libraries):
    head = f"{'cell':5s} {'mode':17s}" + "".join(f"{lib + ' ms':>11s}" for lib in libraries)
    head += f"{'torch/lstmx':>13s}"
    print("\n" + head)
    print("-" * len(head))
    for cell, mode, medians in rows:
        line = f"{cell:5s} {mode:17s}"
        line += "".join(f"{medians[lib] * 1e3:11.2f}" if lib in medians else f"{'-':>11s}"
                        for lib in libraries)
        line += f"{medians['torch'] / medians['lstmx']:13.2f}"
        print(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", nargs="+", default=["lstm", "gru"], choices=["lstm", "gru"])
    ap.add_argument("--T", type=int, default=50, help="time steps")
    ap.add_argument("--B", type=int, default=32, help="batch size")
    ap.add_argument("--I", type=int, default=256, help="input size")
    ap.add_argument("--H", type=int, default=256, help="hidden size")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--bidirectional", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    lstmx.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    tf = keras_or_none()
    print(f"lstmx {lstmx.__version__} ({lstmx.get_num_threads()} threads), torch "
          f"{torch.__version__} ({torch.get_num_threads()} threads), {os.cpu_count()} cores; "
          f"T={args.T} B={args.B} I={args.I} H={args.H} layers={args.layers} "
          f"bidirectional={args.bidirectional}, float32")
    if tf is None:
        print("TensorFlow is not installed: the Keras column is skipped.")
    elif args.layers > 1 or args.bidirectional:
        print("Keras is compared only for one layer, one direction: its column is skipped.")
    else:
        print(f"TensorFlow {tf.__version__} found: Keras is the third column.")

    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.T, args.B, args.I)).astype(np.float32)
    D = 2 if args.bidirectional else 1
    dy = rng.standard_normal((args.T, args.B, D * args.H)).astype(np.float32)
    rows = []
    for cell in args.cells:
        torch.manual_seed(args.seed)
        module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
            args.I, args.H, num_layers=args.layers, bidirectional=args.bidirectional)
        layer = from_torch(module)  # the same weights, copied
        report_agreement(cell, layer, module, x, dy, tf)
        for mode, calls in speed_calls(cell, layer, module, x, dy, tf).items():
            rows.append((cell, mode, median_times(calls, args.warmup, args.repeats)))
    libraries = ["lstmx", "torch"] + (["keras"] if any("keras" in m for _, _, m in rows) else [])
    print(f"\nmedian of {args.repeats} calls after {args.warmup} warm-up calls "
          f"(torch/lstmx > 1: lstmx is faster)")
    print_speed_table(rows, libraries)


if __name__ == "__main__":
    main()
