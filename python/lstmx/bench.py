"""``lstmx bench``: a quick side-by-side timing of the native layers against PyTorch's.

Its timer (``interleaved_times``) and runners (``lstmx_runner``, ``torch_runner``) are public:
the programs in ``benchmarks/`` use them as well.

For the full benchmark (every size, the NumPy reference, JSON output) run
``benchmarks/bench_kernels.py`` from a source checkout; this command is the few-second check
a user runs after ``pip install``: LSTM and GRU, forward and forward+backward, float32, one
size, medians of interleaved runs, the ratio torch/lstmx (> 1: lstmx is faster).
"""

import statistics
import time

import numpy as np

from .arguments import HelpFormatter, positive_int, thread_count

SIZES = {"nmt-s": (50, 32, 256, 256), "nmt-m": (50, 64, 512, 512), "lat-b1": (200, 1, 256, 256)}


def add_parser(subparsers):
    p = subparsers.add_parser("bench", help="time the native kernels against PyTorch",
                              description="A quick side-by-side timing of lstmx's layers "
                                          "against PyTorch's (when installed): LSTM and GRU, "
                                          "forward and forward+backward, float32; ratio "
                                          "torch/lstmx > 1 where lstmx is faster.",
                              formatter_class=HelpFormatter)
    p.add_argument("--size", choices=sorted(SIZES), default="nmt-s", help="the layer and batch")
    p.add_argument("--threads", type=thread_count, default=None,
                   help="threads for lstmx and torch (none: lstmx's automatic policy)")
    p.add_argument("--repeats", type=positive_int, default=5, help="timed rounds")
    return p


def interleaved_times(fns, rounds, warmup=1, pause=0.0):
    """Seconds of every timed call of each callable in ``fns`` (``{name: fn}``):
    ``warmup`` untimed calls of each first, then ``rounds`` rounds of one call each, the order
    rotated by one every round so that the machine's drift hits them all alike; ``pause``
    seconds of sleep before each timed call. Returns ``{name: [seconds, one per round]}``.
    The benchmarks in ``benchmarks/`` time with it too."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    times = {k: [] for k in fns}
    names = list(fns)
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            if pause:
                time.sleep(pause)
            t0 = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def median_times(fns, repeats, warmup=1):
    """Median seconds of each callable in ``fns`` (``interleaved_times``)."""
    return {k: statistics.median(v) for k, v in interleaved_times(fns, repeats, warmup).items()}


def lstmx_runner(layer, x, dy, training):
    """A callable running ``layer`` on x: inference forward, or training forward + backward(dy)."""
    if not training:
        layer.eval()
        return lambda: layer(x)
    layer.train()

    def run():
        layer(x)
        layer.backward(dy)
    return run


def torch_runner(torch, module, x, dy, training):
    """The same for a ``torch.nn`` recurrent module (``no_grad`` forward, or forward + backward)."""
    xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)
    if not training:
        def run():
            with torch.no_grad():
                module(xt)
        return run

    def run():
        y, _ = module(xt.clone().requires_grad_(True))
        y.backward(dyt)
    return run


def run(args):
    import lstmx

    try:
        import torch
    except ImportError:
        torch = None
    if args.threads is not None:
        lstmx.set_num_threads(args.threads)
    threads = lstmx.get_num_threads()
    T, B, I, H = SIZES[args.size]
    print(f"lstmx {lstmx.__version__}, {threads} threads, size {args.size} "
          f"(T={T}, B={B}, I={I}, H={H}), float32"
          + (f", torch {torch.__version__}" if torch else ", torch not installed"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    print(f"{'cell':5} {'mode':8} {'lstmx ms':>9} {'torch ms':>9} {'torch/lstmx':>12}")
    for cell in ("lstm", "gru"):
        layer = {"lstm": lstmx.LSTM, "gru": lstmx.GRU}[cell](I, H, seed=0)
        module = None
        if torch is not None:
            torch.set_num_threads(threads)
            module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H)
            layer.load_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()})
        for mode, training in (("fwd", False), ("fwd+bwd", True)):
            fns = {"lstmx": lstmx_runner(layer, x, dy, training)}
            if module is not None:
                fns["torch"] = torch_runner(torch, module, x, dy, training)
            ms = {k: 1e3 * v for k, v in median_times(fns, args.repeats).items()}
            t = ms.get("torch")
            print(f"{cell:5} {mode:8} {ms['lstmx']:9.2f} "
                  + (f"{t:9.2f} {t / ms['lstmx']:12.2f}" if t else f"{'-':>9} {'-':>12}"))
    return 0
