"""Layer benchmark: the options of the recurrent layers (layer norm, dropout, activations) on a
2-layer bidirectional LSTM and GRU, against the plain lstmx layer of the same cell and
PyTorch's plain 2-layer bidirectional nn.LSTM / nn.GRU (PyTorch has none of the options, so
its plain layer is the closest equivalent). Reports each option's cost relative to the plain
layer.

    python benchmarks/bench_layers.py                     # nmt-s and nmt-m, fwd and fwd+bwd
    python benchmarks/bench_layers.py --sizes nmt-s --repeats 3 --json out.json

Every configuration runs the same input, interleaved round-robin per repeat in one process;
medians after a warm-up. A benchmark, not a test: it never fails on slow numbers.
"""

import argparse
import statistics
from pathlib import Path

# _common first: NumPy's thread timeout, lstmx before torch (see there)
from _common import SIZES, lstmx, machine_info, torch, write_json
import numpy as np  # noqa: I001
from lstmx.bench import interleaved_times, lstmx_runner, torch_runner
from lstmx.heap import keep_freed_memory

# per cell: configuration name -> layer options ("plain" is the reference of the ratios)
CONFIGS = {
    "LSTM": {
        "plain": {},
        "layer_norm": {"layer_norm": True},
        "ln+dropout": {"layer_norm": True, "recurrent_dropout": 0.25, "dropout": 0.25},
        "dropout": {"recurrent_dropout": 0.25, "dropout": 0.25},
        "relu": {"activation": "relu"},
        "leaky_relu": {"activation": "leaky_relu"},
        "elu": {"activation": "elu"},
        "hard_sigmoid": {"recurrent_activation": "hard_sigmoid"},
    },
    "GRU": {
        "plain": {},
        "layer_norm": {"layer_norm": True},
    },
}


def make_runner(cell, cfg, x, dy, mode):
    """lstmx 2-layer bidirectional ``cell`` with options ``cfg``, or torch's plain one (cfg
    None)."""
    I, H = x.shape[2], dy.shape[2] // 2
    training = mode == "fwdbwd"
    if cfg is None:
        module = getattr(torch.nn, cell)(I, H, num_layers=2, bidirectional=True)
        return torch_runner(torch, module, x, dy, training)
    layer = getattr(lstmx, cell)(I, H, num_layers=2, bidirectional=True, seed=0, **cfg)
    return lstmx_runner(layer, x, dy, training)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["nmt-s", "nmt-m"], choices=list(SIZES))
    ap.add_argument("--modes", nargs="+", default=["fwd", "fwdbwd"], choices=["fwd", "fwdbwd"])
    ap.add_argument("--cells", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    # as the Trainer does: freed workspaces stay in the heap instead of being unmapped and
    # faulted in again at the next call (lstmx.heap)
    keep_freed_memory()
    if args.threads:
        lstmx.set_num_threads(args.threads)
    threads = lstmx.get_num_threads()
    if torch is not None:
        torch.set_num_threads(threads)
    info = machine_info(threads, None)
    print(f"# {info['cpu_model']}, {info['os_cpu_count']} cores, {threads} threads, float32, "
          f"lstmx {lstmx.__version__}, torch {info.get('torch_version', 'absent')}")
    print("# 2-layer bidirectional; ms = median; ratios: this / lstmx plain, torch plain / this")
    print(f"{'cell':5} {'size':7} {'mode':7} {'config':12} {'ms':>9} {'vs plain':>9} "
          f"{'torch/this':>11}")
    results = []
    rng = np.random.default_rng(0)
    for size in args.sizes:
        T, B, I, H = SIZES[size]
        x = rng.standard_normal((T, B, I)).astype(np.float32)
        dy = rng.standard_normal((T, B, 2 * H)).astype(np.float32)
        for cell, mode in [(c, m) for c in args.cells for m in args.modes]:
            runners = {name: make_runner(cell, cfg, x, dy, mode)
                       for name, cfg in CONFIGS[cell].items()
                       if mode == "fwdbwd" or "dropout" not in name}  # dropout is off in eval
            if torch is not None:
                runners["torch"] = make_runner(cell, None, x, dy, mode)
            times = interleaved_times(runners, args.repeats, warmup=1, pause=0.02)
            med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
            for name in runners:
                if name == "torch":
                    continue
                vs_plain = med[name] / med["plain"]
                vs_torch = med["torch"] / med[name] if "torch" in med else float("nan")
                print(f"{cell:5} {size:7} {mode:7} {name:12} {med[name]:9.2f} {vs_plain:9.2f} "
                      f"{vs_torch:11.2f}")
                results.append({"cell": cell, "size": size, "mode": mode, "config": name,
                                "ms": med[name], "vs_plain": vs_plain,
                                "torch_over_this": vs_torch})
            if "torch" in med:
                print(f"{cell:5} {size:7} {mode:7} {'torch':12} {med['torch']:9.2f}")
                results.append({"cell": cell, "size": size, "mode": mode, "config": "torch",
                                "ms": med["torch"]})
    if args.json:
        write_json(Path(args.json), {"machine": info, "results": results})


if __name__ == "__main__":
    main()
