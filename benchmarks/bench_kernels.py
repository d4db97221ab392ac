"""Sequence-kernel benchmark: lstmx native layers vs PyTorch CPU vs the NumPy reference.

Every implementation runs the same weights (a seeded ``torch.nn`` layer's ``state_dict``
loaded into lstmx) on the same inputs, side by side in one process, interleaved round-robin
per repeat (short calls in bursts of about 10 ms, see time_group), so machine noise hits all
of them alike. Prints a table and writes JSON with the machine, thread counts, library
versions and a NumPy GEMM ceiling measured in the same run.

    python benchmarks/bench_kernels.py                  # all sizes, lstm+gru+rnn, fwd+fwdbwd
    python benchmarks/bench_kernels.py --quick          # smoke test (fewer repeats)
    python benchmarks/bench_kernels.py --sizes nmt-m --cells lstm --modes fwd --threads 1
    python benchmarks/bench_kernels.py --layers 2 --bidirectional --no-reference
    python benchmarks/bench_kernels.py --plot benchmarks/results/kernels.png

Modes (per layer call on x (T, B, I)):
    fwd     inference forward: lstmx ``eval()``, torch under ``no_grad()``, reference forward
    fwdbwd  training forward + backward(dy) with input and parameter gradients: lstmx
            ``train()`` + ``backward(dy)``, torch ``x.requires_grad_(True)`` + ``y.backward(dy)``,
            reference forward + backward

FLOPs (GEMM only, pointwise work not counted): forward F = 2·T·B·G·H·(I+H) with G = 4 (LSTM),
3 (GRU), 1 (RNN), per layer and direction (layers above the first read 2H inputs when
bidirectional); fwd+bwd = 3F. A benchmark, not a test: it never fails on slow numbers.
Thread scaling is bench_scaling.py.
"""

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

# _common first: it sets OPENBLAS_THREAD_TIMEOUT before NumPy loads, and imports lstmx
# before torch (see there)
from _common import (GATES, SIZES, available_cores, comma_list, lstmx, machine_info,
                     mode_flops, pyplot, save_figure, set_numpy_blas_threads, torch, write_json)
import numpy as np  # noqa: E402,I001
from lstmx import reference  # noqa: E402
from lstmx.heap import keep_freed_memory  # noqa: E402

DEFAULT_SIZES = ["nmt-s", "nmt-m", "wide", "lat-b1", "lat-b1-h512"]
MODES = ("fwd", "fwdbwd")

# A reference call slower than this gets at most SLOW_REFERENCE_RUNS timed runs (1 with
# --quick) and no warm-up beyond its first, checked call: it keeps the default run short.
SLOW_REFERENCE_S = 0.3
SLOW_REFERENCE_RUNS = 3
BURST_S = 0.01  # back-to-back calls per implementation and round fill about this long,
MIN_BURST, MAX_BURST = 3, 16  # within these bounds

DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "kernels.json"


# -- the NumPy GEMM ceiling ----------------------------------------------------------------


def gemm_ceiling(dtype, n=2048, runs=5):
    """GFLOP/s of an n×n×n NumPy matmul in ``dtype``: (median, max) over ``runs`` after one warm-up."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - t0)
    flops = 2.0 * n ** 3
    return flops / statistics.median(times) / 1e9, flops / min(times) / 1e9


# -- the three implementations ---------------------------------------------------------------


class Impl:
    """One implementation of one (cell, mode, size): ``run()`` is what gets timed,
    ``reset()`` (untimed) clears accumulated gradients before each call, and
    ``collect(out)`` turns a run's result into named arrays for the agreement check."""

    def __init__(self, name, run, reset, collect):
        self.name, self.run, self.reset, self.collect = name, run, reset, collect
        self.times = []
        self.runs = 0
        self.burst = 1
        self.error = None
        self.outputs = None


def make_native(cell, mode, layer, x, dy):
    def params():  # keyed like torch's named_parameters: "d" + weight_ih_l0, ...
        return {"d" + name: p.grad.copy() for name, p in layer.named_parameters()}

    if mode == "fwd":
        layer.eval()
        return Impl("native", lambda: layer(x)[0], lambda: None, lambda y: {"y": y})

    layer.train()

    def run():
        y = layer(x)[0]
        dx = layer.backward(dy)[0]
        return y, dx

    return Impl("native", run, layer.zero_grad,
                lambda out: {"y": out[0], "dx": out[1], **params()})


def make_torch(cell, mode, module, x, dy):
    xt = torch.from_numpy(x.copy())
    dyt = torch.from_numpy(dy)
    if mode == "fwd":
        module.eval()

        def run():
            with torch.no_grad():
                return module(xt)[0]

        return Impl("torch", run, lambda: None, lambda y: {"y": y.numpy()})

    module.train()
    xt.requires_grad_(True)

    def run():
        y = module(xt)[0]
        y.backward(dyt)
        return y

    def reset():
        module.zero_grad(set_to_none=True)
        xt.grad = None

    def collect(y):
        grads = {"d" + k: p.grad.numpy() for k, p in module.named_parameters()}
        return {"y": y.detach().numpy(), "dx": xt.grad.numpy(), **grads}

    return Impl("torch", run, reset, collect)


def make_reference(cell, mode, weights, x, dy):
    names = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0", "b_ih": "bias_ih_l0",
             "b_hh": "bias_hh_l0"}   # the reference's parameter keys -> the layer's names
    params = {k: weights[name] for k, name in names.items()}
    fwd_fn, bwd_fn = getattr(reference, cell + "_forward"), getattr(reference, cell + "_backward")
    nones = [None] * (2 if cell == "lstm" else 1)   # h0 (c0), dh_n (dc_n): zeros

    def forward():
        return fwd_fn(x, *nones, params)

    if mode == "fwd":
        return Impl("reference", lambda: forward()[0], lambda: None, lambda y: {"y": y})

    def run():
        fwd = forward()
        dx, *_, grads = bwd_fn(dy, *nones, fwd[-1])
        return fwd[0], dx, grads

    def collect(out):
        y, dx, grads = out
        return {"y": y, "dx": dx, **{"d" + names[k]: g for k, g in grads.items()}}

    return Impl("reference", run, lambda: None, collect)


def max_abs_diff(got, want):
    """Largest |got - want| over the arrays both dicts name (computed in float64)."""
    keys = [k for k in want if k in got]
    return max(float(np.max(np.abs(np.asarray(got[k], np.float64) - np.asarray(want[k], np.float64))))
               for k in keys)


# -- timing ------------------------------------------------------------------------------


def time_group(impls, repeats, warmup, settle, quick, burst_s=BURST_S):
    """Interleaved timing of ``impls`` (see module docstring); fills each Impl's ``times``.

    Each implementation first runs once, untimed, and keeps that call's outputs for the
    agreement check; ``warmup - 1`` more untimed calls follow. Then ``repeats`` rounds, each
    giving every implementation one burst, in an order rotated by one per round. A burst is
    as many back-to-back calls as fill about ``burst_s`` seconds (judged from the fastest
    untimed call, as the first one also pays for memory it touches for the first time;
    MIN_BURST to MAX_BURST calls; one when ``burst_s`` is 0), every one of them timed, and
    the median is over all of them. Why bursts: lstmx and torch each have their own
    OpenMP pool, whose workers spin for a few milliseconds after each parallel region, so a
    call that directly follows the other library's runs on cores those spinning workers
    still hold. Both lose alike (at lat-b1 either one's time rose by 30-40 % that way; at
    nmt-m lstmx's fwd+bwd varied from 94 to 122 ms against 94-101 ms with torch absent), and
    a user calling one library over and over never sees it. ``settle`` seconds of sleep
    before each burst is the other remedy; on this VM it made the next call slower."""
    live = []
    for impl in impls:
        impl.reset()
        t0 = time.perf_counter()
        try:
            out = impl.run()
        except Exception as e:  # a benchmark reports a broken implementation, it does not stop
            impl.error = f"{type(e).__name__}: {e}"
            continue
        first = time.perf_counter() - t0
        impl.outputs = impl.collect(out)
        impl.runs, extra_warmup = repeats, warmup - 1
        slow_reference = impl.name == "reference" and first > SLOW_REFERENCE_S
        if slow_reference:
            impl.runs, extra_warmup = min(repeats, 1 if quick else SLOW_REFERENCE_RUNS), 0
        fastest = first  # a first call also pays for first-touch memory: size bursts on warm ones
        for _ in range(extra_warmup):
            impl.reset()
            t0 = time.perf_counter()
            impl.run()
            fastest = min(fastest, time.perf_counter() - t0)
        impl.burst = 1
        if burst_s > 0 and not slow_reference:
            impl.burst = max(MIN_BURST, min(MAX_BURST, math.ceil(burst_s / max(fastest, 1e-6))))
        live.append(impl)
    for r in range(repeats if live else 0):
        k = r % len(live)
        for impl in live[k:] + live[:k]:
            if len(impl.times) >= impl.runs * impl.burst:
                continue
            time.sleep(settle)
            for _ in range(impl.burst):
                impl.reset()
                t0 = time.perf_counter()
                impl.run()
                impl.times.append(time.perf_counter() - t0)


def build_group(cell, size, dtype, with_torch, seed, layers=1, bidirectional=False):
    """Weights and inputs shared by every implementation of (cell, size):
    (lstmx layer, torch module or None, weights dict, x, dy)."""
    T, B, I, H = SIZES[size]
    shape = dict(num_layers=layers, bidirectional=bidirectional)
    if with_torch:
        torch.manual_seed(seed)
        module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](I, H, **shape)
        module = module.to(torch.float64 if dtype == np.float64 else torch.float32)
        weights = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
    else:
        module, weights = None, None
    layer_cls = {"lstm": lstmx.LSTM, "gru": lstmx.GRU, "rnn": lstmx.RNN}[cell]
    layer = layer_cls(I, H, dtype=dtype, seed=seed, **shape)
    if weights is not None:
        layer.load_state_dict(weights)
    weights = layer.state_dict()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, I)).astype(dtype)
    dy = rng.standard_normal((T, B, (2 if bidirectional else 1) * H)).astype(dtype)
    return layer, module, weights, x, dy


# -- output ------------------------------------------------------------------------------

COLUMNS = [("cell", "<4"), ("mode", "<6"), ("size", "<6"), ("impl", "<9"), ("n", ">2"),
           ("median ms", ">10"), ("min ms", ">10"), ("GFLOP/s", ">8"), ("%gemm", ">6"),
           ("torch/nat", ">9"), ("ref/nat", ">8"), ("max|Δ| vs nat", ">13")]


def format_row(values):
    return "  ".join(f"{v:{fmt}}" for v, (_, fmt) in zip(values, COLUMNS))


def table_header():
    head = format_row([c for c, _ in COLUMNS])
    return head + "\n" + "-" * len(head)


def row_cells(row):
    def num(v, fmt):
        return "" if v is None else format(v, fmt)

    if row["error"]:
        return [row["cell"], row["mode"], row["size"], row["impl"], "", "failed:", row["error"][:60],
                "", "", "", "", ""]
    return [row["cell"], row["mode"], row["size"], row["impl"], str(row["runs"]),
            num(row["median_ms"], ".2f"), num(row["min_ms"], ".2f"), num(row["gflops"], ".1f"),
            num(None if row["gemm_fraction"] is None else 100 * row["gemm_fraction"], ".0f"),
            num(row["torch_over_native"], ".2f"), num(row["reference_over_native"], ".1f"),
            num(row["max_abs_diff_vs_native"], ".1e")]


def group_rows(cell, mode, size, impls, ceiling, layers=1, directions=1):
    """Result rows of one (cell, mode, size): timings, GFLOP/s, ratios, agreement."""
    shape = SIZES[size]
    flops = mode_flops(cell, mode, shape, layers, directions)
    by_name = {impl.name: impl for impl in impls}
    medians = {impl.name: statistics.median(impl.times) for impl in impls if impl.times}
    native = by_name.get("native")
    rows = []
    for impl in impls:
        med = medians.get(impl.name)
        row = {"cell": cell, "mode": mode, "size": size, "T": shape[0], "B": shape[1], "I": shape[2],
               "H": shape[3], "layers": layers, "directions": directions,
               "impl": impl.name, "gflop": flops / 1e9, "runs": len(impl.times),
               "times_ms": [1e3 * t for t in impl.times],
               "median_ms": None if med is None else 1e3 * med,
               "min_ms": 1e3 * min(impl.times) if impl.times else None,
               "gflops": None if med is None else flops / med / 1e9,
               "gemm_fraction": None, "torch_over_native": None, "reference_over_native": None,
               "max_abs_diff_vs_native": None, "error": impl.error}
        if impl.name == "native" and med is not None:
            row["gemm_fraction"] = row["gflops"] / ceiling
            if "torch" in medians:
                row["torch_over_native"] = medians["torch"] / med
            if "reference" in medians:
                row["reference_over_native"] = medians["reference"] / med
        if impl.name != "native" and native is not None and native.outputs and impl.outputs:
            row["max_abs_diff_vs_native"] = max_abs_diff(impl.outputs, native.outputs)
        rows.append(row)
    return rows


def print_header(info, args, ceiling32, ceiling, dtype):
    b = info["lstmx_build_info"]
    print("lstmx kernel benchmark", info["date"])
    print(f"cpu: {info['cpu_model']}; os.cpu_count()={info['os_cpu_count']}, "
          f"available={info['cpus_available']}; load average at start {info['load_average_at_start']}")
    print(f"threads: requested {info['threads_requested']}; lstmx {info['lstmx_threads']}, "
          f"torch {info.get('torch_threads', '-')}, numpy BLAS {info['numpy_blas_threads'] or 'not set'}")
    print(f"lstmx {info['lstmx_version']} (git {info['lstmx_git']}): {b.get('compiler')}, "
          f"OpenMP {b.get('openmp_version')}, {b.get('blas')}, blas_threads={b.get('blas_threads')}, "
          f"simd={','.join(b.get('simd', []))}")
    print(f"OpenMP runtime(s) in this process: {', '.join(info['openmp_runtimes_loaded']) or 'none'}")
    print("malloc: freed memory " + ("kept in the heap (mmap threshold 64 MiB; --release-memory "
                                     "to leave glibc's default)" if info.get("malloc_keeps_freed_memory")
                                     else "handled by glibc's defaults"))
    if "torch_version" in info:
        print(f"numpy {info['numpy_version']}; torch {info['torch_version']} "
              f"(get_num_threads={info['torch_threads']}, mkldnn available={info['torch_mkldnn_available']}, "
              f"enabled={info['torch_mkldnn_enabled']})")
    else:
        print(f"numpy {info['numpy_version']}; torch not used")
    if info["environment"]:
        print("environment:", " ".join(f"{k}={v}" for k, v in info["environment"].items()))
    print(f"python {info['python']} on {info['platform']}")
    gm, gx = ceiling32
    print(f"ceiling: NumPy float32 GEMM 2048³ median {gm:.1f} GFLOP/s (best {gx:.1f}) over 5 runs")
    if dtype != np.float32:
        print(f"         NumPy {np.dtype(dtype).name} GEMM 2048³ median {ceiling:.1f} GFLOP/s "
              f"(%gemm below is against this)")
    print(f"dtype {np.dtype(dtype).name}; repeats {args.repeats} (median and min of these), "
          f"warmup {args.warmup} (the first call of each implementation is also checked against native); "
          f"round-robin interleaved, order rotated per repeat, each implementation's calls in bursts "
          f"of about {args.burst * 1e3:.0f} ms ({MIN_BURST}-{MAX_BURST} calls, all timed; n counts them)"
          + (f", {args.settle * 1e3:.0f} ms sleep before each burst" if args.settle else ""))
    slow_runs = 1 if args.quick else min(args.repeats, SLOW_REFERENCE_RUNS)
    print(f"reference: where one call takes > {SLOW_REFERENCE_S} s it gets {slow_runs} timed run(s) "
          f"and no further warm-up (column n)")
    print("FLOPs: fwd 2·T·B·G·H·(I+H), fwdbwd 3× that (G = 4 lstm, 3 gru, 1 rnn); "
          "GFLOP/s from the median; %gemm = native GFLOP/s / GEMM ceiling")
    print("torch/nat = torch median / native median, ref/nat = reference median / native median "
          "(> 1: native faster); max|Δ| vs nat = largest abs difference of y (and dx, parameter grads "
          "in fwdbwd) from native")
    print("sizes:", ", ".join(f"{s} (T={SIZES[s][0]}, B={SIZES[s][1]}, I={SIZES[s][2]}, H={SIZES[s][3]})"
                              for s in args.sizes))
    print(f"layers: {args.layers}, {'bidirectional' if args.bidirectional else 'one direction'}"
          + ("; the NumPy reference covers one layer, one direction only: skipped"
             if args.layers > 1 or args.bidirectional else ""))
    print()


def print_summary(rows):
    natives = [r for r in rows if r["impl"] == "native" and r["torch_over_native"] is not None]
    if not natives:
        return
    print()
    for cell in dict.fromkeys(r["cell"] for r in natives):
        for mode in dict.fromkeys(r["mode"] for r in natives):
            ratios = [r["torch_over_native"] for r in natives if r["cell"] == cell and r["mode"] == mode]
            if ratios:
                geo = float(np.exp(np.mean(np.log(ratios))))
                print(f"{cell} {mode}: torch/native geometric mean {geo:.2f} over {len(ratios)} size(s), "
                      f"range {min(ratios):.2f}-{max(ratios):.2f}")
    slower = [f"{r['cell']} {r['mode']} {r['size']} ({r['torch_over_native']:.2f})"
              for r in natives if r["torch_over_native"] < 1]
    print("native slower than torch:", ", ".join(slower) if slower else "nowhere")


# -- command line ------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=comma_list(list(SIZES)), default=DEFAULT_SIZES,
                   help=f"comma-separated subset of {', '.join(SIZES)} (default: all)")
    p.add_argument("--cells", type=comma_list(list(GATES)), default=list(GATES),
                   help="comma-separated cells: lstm, gru, rnn (default: all three)")
    p.add_argument("--layers", type=int, default=1, help="stacked layers (default 1)")
    p.add_argument("--bidirectional", action="store_true", help="bidirectional layers")
    p.add_argument("--modes", type=comma_list(list(MODES)), default=list(MODES),
                   help="comma-separated modes: fwd, fwdbwd (default: both)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for lstmx, torch and NumPy's BLAS (default: all available cores)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed rounds per implementation (default 7, --quick 2); a round is one "
                        "burst of calls (--burst)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed runs first (default 2, --quick 1; min 1)")
    p.add_argument("--release-memory", action="store_true",
                   help="leave glibc's malloc thresholds alone (default: freed memory stays in "
                        "the heap, see keep_freed_memory)")
    p.add_argument("--burst", type=float, default=BURST_S,
                   help="seconds of back-to-back calls per implementation and round (default "
                        f"{BURST_S}: {MIN_BURST}-{MAX_BURST} calls; 0 gives one call per round)")
    p.add_argument("--settle", type=float, default=0.0,
                   help="seconds of sleep before each timed call (default 0: on this VM a sleep "
                        "of 0.4 s made the next call slower, not faster)")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    p.add_argument("--no-reference", action="store_true", help="skip the NumPy reference")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON,
                   help="where to write the results (default: benchmarks/results/kernels.json)")
    p.add_argument("--quick", action="store_true", help="smoke test: 2 repeats, 1 warm-up, 1 reference run")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and inputs (default 0)")
    p.add_argument("--plot", type=Path, default=None,
                   help="also draw native and torch GFLOP/s per size into this PNG (needs matplotlib)")
    args = p.parse_args(argv)
    if args.layers < 1:
        p.error(f"--layers must be at least 1, got {args.layers}")
    if args.layers > 1 or args.bidirectional:
        args.no_reference = True
    args.repeats = args.repeats if args.repeats is not None else (2 if args.quick else 7)
    args.warmup = max(1, args.warmup if args.warmup is not None else (1 if args.quick else 2))
    if args.repeats < 1:
        p.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be at least 1, got {args.threads}")
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    dtype = np.dtype(args.dtype).type
    threads = args.threads or available_cores()
    with_torch = torch is not None and not args.no_torch
    if torch is None and not args.no_torch:
        print("note: torch is not installed; running without it")
    lstmx.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    numpy_threads = set_numpy_blas_threads(threads)
    kept = keep_freed_memory() if not args.release_memory else False  # lstmx.heap

    info = machine_info(threads, numpy_threads)
    info["malloc_keeps_freed_memory"] = kept
    ceiling32 = gemm_ceiling(np.float32)
    ceiling = ceiling32[0] if dtype == np.float32 else gemm_ceiling(dtype)[0]
    print_header(info, args, ceiling32, ceiling, dtype)
    print(table_header(), flush=True)

    rows = []
    for cell in args.cells:
        for size in args.sizes:
            layer, module, weights, x, dy = build_group(cell, size, dtype, with_torch, args.seed,
                                                        args.layers, args.bidirectional)
            for mode in args.modes:
                impls = [make_native(cell, mode, layer, x, dy)]
                if with_torch:
                    impls.append(make_torch(cell, mode, module, x, dy))
                if not args.no_reference:
                    impls.append(make_reference(cell, mode, weights, x, dy))
                time_group(impls, args.repeats, args.warmup, args.settle, args.quick, args.burst)
                group = group_rows(cell, mode, size, impls, ceiling, args.layers,
                                   2 if args.bidirectional else 1)
                for row in group:
                    print(format_row(row_cells(row)), flush=True)
                rows.extend(group)
            print(flush=True)

    ceiling32_end = gemm_ceiling(np.float32)
    elapsed = time.perf_counter() - start
    print_summary(rows)
    print(f"NumPy float32 GEMM ceiling again at the end: median {ceiling32_end[0]:.1f} GFLOP/s "
          f"(start {ceiling32[0]:.1f}); load average at end {[round(v, 2) for v in os.getloadavg()]}; "
          f"wall time {elapsed:.0f} s")

    info["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    result = {
        "machine": info,
        "settings": {"sizes": {s: dict(zip("TBIH", SIZES[s])) for s in args.sizes}, "cells": args.cells,
                     "modes": args.modes, "layers": args.layers, "bidirectional": args.bidirectional,
                     "dtype": args.dtype, "threads": threads, "repeats": args.repeats,
                     "warmup": args.warmup, "burst_s": args.burst, "settle_s": args.settle, "quick": args.quick, "seed": args.seed,
                     "torch": with_torch, "reference": not args.no_reference,
                     "slow_reference_s": SLOW_REFERENCE_S,
                     "slow_reference_runs": 1 if args.quick else min(args.repeats, SLOW_REFERENCE_RUNS)},
        "gemm_ceiling": {"n": 2048, "runs": 5, "float32_median_gflops_start": ceiling32[0],
                         "float32_best_gflops_start": ceiling32[1],
                         "float32_median_gflops_end": ceiling32_end[0],
                         "ceiling_gflops_used": ceiling, "ceiling_dtype": args.dtype},
        "rows": rows,
        "wall_time_s": elapsed,
    }
    write_json(args.json, result)
    if args.plot:
        plot_rows(rows, args.plot, info, threads)
    return 0


def plot_rows(rows, path, info, threads):
    """A bar chart of GFLOP/s per (cell, mode, size): native and torch side by side, with the
    torch/native ratio over each pair. Reports (does not fail) when matplotlib is missing."""
    plt = pyplot()
    if plt is None:
        return
    groups = list(dict.fromkeys((r["cell"], r["mode"], r["size"]) for r in rows))
    gf = {(r["cell"], r["mode"], r["size"], r["impl"]): r["gflops"] for r in rows}
    ratio = {(r["cell"], r["mode"], r["size"]): r["torch_over_native"] for r in rows
             if r["impl"] == "native"}
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(groups) + 2), 4.2))
    xs = np.arange(len(groups))
    for offset, impl, color in ((-0.2, "native", "tab:blue"), (0.2, "torch", "tab:orange")):
        ax.bar(xs + offset, [gf.get((*g, impl)) or 0 for g in groups], 0.4, label=impl, color=color)
    for x, g in zip(xs, groups):
        if ratio.get(g):
            top = max(gf.get((*g, "native")) or 0, gf.get((*g, "torch")) or 0)
            ax.text(x, top * 1.02, f"{ratio[g]:.2f}×", ha="center", fontsize=7)
    ax.set_xticks(xs, [f"{c} {m}\n{s}" for c, m, s in groups], fontsize=7)
    ax.set_ylabel("GFLOP/s (GEMM FLOPs, median)")
    stack = rows[0]["layers"], rows[0]["directions"]
    shape = "" if stack == (1, 1) else f"{stack[0]}-layer {'bidirectional ' if stack[1] == 2 else ''}"
    ax.set_title(f"lstmx vs torch, {shape}{threads} thread(s), {info['cpu_model']} "
                 "(label: torch time / lstmx time)", fontsize=9)
    ax.legend(fontsize=8)
    save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(main())
