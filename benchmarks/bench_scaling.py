"""Thread scaling: lstmx and PyTorch at 1, 2, 4, ... threads, side by side in one process.

At every thread count both libraries run the same layer (same weights and inputs), calls
interleaved round-robin, medians after a warm-up. Prints, per (cell, mode, size), the time,
the speed-up over one thread for each library, and torch/lstmx; writes JSON and, with
--plot, a PNG of the speed-ups.

    python benchmarks/bench_scaling.py                        # nmt-m, lstm+gru, fwdbwd
    python benchmarks/bench_scaling.py --threads 1,2,4,8,16 --modes fwd,fwdbwd
    python benchmarks/bench_scaling.py --plot benchmarks/results/scaling.png

Thread counts default to 1, 2, 4, ... up to the cores this process may use, plus that count.
A count above the cores is still run (and flagged): oversubscription is worth seeing too.
"""

import argparse
import sys
from pathlib import Path

# _common first: NumPy's thread timeout, lstmx before torch (see there)
from _common import (SIZES, available_cores, comma_list, lstmx, machine_info, mode_flops,
                     pyplot, save_figure, torch, write_json)
import numpy as np  # noqa: I001
from lstmx.bench import lstmx_runner, median_times, torch_runner

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "scaling.json"


def default_thread_counts(cores):
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return counts + [cores]


def thread_list(text):
    try:
        counts = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: a comma-separated list of thread counts")
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: thread counts must be at least 1")
    return counts


def set_threads(n):
    lstmx.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=comma_list(list(SIZES)), default=["nmt-m"],
                   help=f"comma-separated subset of {', '.join(SIZES)} (default: nmt-m)")
    p.add_argument("--cells", type=comma_list(["lstm", "gru", "rnn"]), default=["lstm", "gru"],
                   help="comma-separated cells (default: lstm,gru)")
    p.add_argument("--modes", type=comma_list(["fwd", "fwdbwd"]), default=["fwdbwd"],
                   help="comma-separated modes: fwd, fwdbwd (default: fwdbwd)")
    p.add_argument("--threads", type=thread_list, default=None,
                   help="comma-separated thread counts (default: 1, 2, 4, ... up to the cores)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls per library and count (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed calls first (default 1)")
    p.add_argument("--no-torch", action="store_true", help="lstmx only")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON,
                   help="where to write the results (default: benchmarks/results/scaling.json)")
    p.add_argument("--plot", type=Path, default=None, help="also draw the speed-ups into this PNG")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        p.error("--repeats must be at least 1 and --warmup at least 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    cores = available_cores()
    counts = args.threads or default_thread_counts(cores)
    with_torch = torch is not None and not args.no_torch
    info = machine_info(max(counts), None)
    print(f"lstmx thread scaling {info['date']}: cpu {info['cpu_model']}, {cores} cores available; "
          f"lstmx {lstmx.__version__} ({lstmx.build_info().get('gemm_float32')}); "
          + (f"torch {torch.__version__}" if with_torch else "torch not used"))
    print(f"thread counts {counts}; float32; median of {args.repeats} interleaved calls after "
          f"{args.warmup} warm-up; speed-up = time at 1 thread / time at n threads "
          "(the 1-thread time of this run; a list without 1 gives none)")
    head = (f"{'cell':4}  {'mode':6}  {'size':11}  {'threads':>7}  {'lstmx ms':>9}  {'speed-up':>8}  "
            f"{'torch ms':>9}  {'speed-up':>8}  {'torch/lstmx':>11}  {'GFLOP/s':>8}")
    print(head + "\n" + "-" * len(head))
    rows = []
    rng = np.random.default_rng(0)
    for cell in args.cells:
        for size in args.sizes:
            T, B, I, H = SIZES[size]
            x = rng.standard_normal((T, B, I)).astype(np.float32)
            dy = rng.standard_normal((T, B, H)).astype(np.float32)
            layer = {"lstm": lstmx.LSTM, "gru": lstmx.GRU, "rnn": lstmx.RNN}[cell](I, H, seed=0)
            module = None
            if with_torch:
                torch.manual_seed(0)
                module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](I, H)
                layer.load_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()})
            for mode in args.modes:
                training = mode == "fwdbwd"
                base = {}
                for n in counts:
                    set_threads(n)
                    runners = {"lstmx": lstmx_runner(layer, x, dy, training)}
                    if module is not None:
                        runners["torch"] = torch_runner(torch, module.train(training), x, dy, training)
                    med = median_times(runners, args.repeats, args.warmup)
                    if n == 1:
                        base = dict(med)
                    row = {"cell": cell, "mode": mode, "size": size, "T": T, "B": B, "I": I, "H": H,
                           "threads": n, "oversubscribed": n > cores,
                           "lstmx_ms": 1e3 * med["lstmx"],
                           "lstmx_speedup": base["lstmx"] / med["lstmx"] if base else None,
                           "torch_ms": 1e3 * med["torch"] if "torch" in med else None,
                           "torch_speedup": base["torch"] / med["torch"] if "torch" in base else None,
                           "torch_over_lstmx": med["torch"] / med["lstmx"] if "torch" in med else None,
                           "lstmx_gflops": mode_flops(cell, mode, SIZES[size]) / med["lstmx"] / 1e9}
                    rows.append(row)

                    def f(v, fmt):
                        return format(v, fmt) if v is not None else "-"
                    print(f"{cell:4}  {mode:6}  {size:11}  {n:>7}{'*' if n > cores else ' '} "
                          f"{row['lstmx_ms']:>9.2f}  {f(row['lstmx_speedup'], '>8.2f')}  "
                          f"{f(row['torch_ms'], '>9.2f')}  {f(row['torch_speedup'], '>8.2f')}  "
                          f"{f(row['torch_over_lstmx'], '>11.2f')}  {row['lstmx_gflops']:>8.1f}", flush=True)
            print()
    set_threads(cores)
    if any(r["oversubscribed"] for r in rows):
        print("* more threads than available cores")
    write_json(args.json, {"machine": info, "thread_counts": counts, "cores": cores,
                           "repeats": args.repeats, "warmup": args.warmup, "rows": rows})
    if args.plot:
        plot(rows, args.plot, info, cores)
    return 0


def plot(rows, path, info, cores):
    plt = pyplot()
    if plt is None:
        return
    groups = list(dict.fromkeys((r["cell"], r["mode"], r["size"]) for r in rows))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    counts = sorted({r["threads"] for r in rows})
    for g, color in zip(groups, plt.rcParams["axes.prop_cycle"].by_key()["color"]):
        sel = [r for r in rows if (r["cell"], r["mode"], r["size"]) == g]
        label = " ".join(g)
        if sel[0]["lstmx_speedup"] is not None:
            ax.plot([r["threads"] for r in sel], [r["lstmx_speedup"] for r in sel], "o-", color=color,
                    label=f"lstmx {label}")
        if sel[0]["torch_speedup"] is not None:
            ax.plot([r["threads"] for r in sel], [r["torch_speedup"] for r in sel], "s--", color=color,
                    label=f"torch {label}")
    ax.plot(counts, counts, ":", color="grey", label="linear")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_xlabel("threads")
    ax.set_ylabel("speed-up over 1 thread")
    ax.set_title(f"thread scaling, {info['cpu_model']}, {cores} cores", fontsize=9)
    ax.legend(fontsize=7)
    save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
