"""lstmx on a busy machine: its automatic thread policy against fixed team sizes and PyTorch,
with 0, 1 and 3 busy processes beside it.

    python benchmarks/bench_busy.py                 # loads 0,1,3; ~6 min on 2 cores
    python benchmarks/bench_busy.py --quick         # smoke test (~1.5 min)
    python benchmarks/bench_busy.py --loads 3 --work lstm,seq2seq --seconds 8 --json busy.json

For each load level the program starts that many busy-loop processes (pure Python spinning,
each ending by itself after --busy-limit seconds at the latest, and killed when the level is
done), then runs every (work, column) pair in a fresh worker process, one after the other, so
that each column meets the same load and starts from the same state: a real program that
starts on a busy machine. The columns:

    auto      lstmx at its defaults (the automatic policy, lstmx.threads)
    1 thread  lstmx.set_num_threads(1)
    2 threads lstmx.set_num_threads(2)
    torch     torch at its defaults (its own thread count and OpenMP spin)

The work:

    lstm, gru  one layer at nmt-s (T 50, B 32, I = H = 256, float32), forward + backward;
               median ms per call
    seq2seq    bench_seq2seq.py's Bahdanau model (batch 64, vocab 2000, E = H = 128) and its
               PyTorch twin: training steps (forward, backward, Adam); tokens/s over the window
    threads4   4 Python threads each calling a B = 1 LSTM forward (T 200, I = H = 256,
               inference, a layer per thread) against the same calls made one after another
               on one thread: throughput of the 4 threads / throughput in sequence (median
               over rounds; > 1: the threads gain)

Each worker warms up for --warmup seconds (which also lets the automatic policy settle), then
measures for --seconds. The table gives each column and, per row, auto over the better fixed
setting (the target is <= 1.1 in time) and torch over auto (>= 1: lstmx at least as fast).
A benchmark, not a test: it never fails on slow numbers.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

COLUMNS = ("auto", "1", "2", "torch")
WORKS = ("lstm", "gru", "seq2seq", "threads4")
BUSY = ("import sys, time\n"
        "end = time.time() + float(sys.argv[1])\n"
        "while time.time() < end:\n"
        "    pass\n")


# -- workers (one process per measurement) -------------------------------------------------


def setup_worker(column):
    """Import lstmx and/or torch for one column; returns (lstmx or None, torch or None)."""
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    if column == "torch":
        # The seq2seq twin is built from an lstmx model, so lstmx is imported there too. It
        # shares torch's OpenMP runtime: spell out libgomp's own default spin (what lstmx
        # would otherwise shorten) so that torch runs as it does without lstmx.
        os.environ.setdefault("GOMP_SPINCOUNT", "300000")
    import lstmx
    try:
        import torch
    except ImportError:
        torch = None
    if column in ("1", "2"):
        lstmx.set_num_threads(int(column))
    return lstmx, torch


def timed_calls(fn, warmup, seconds):
    """Call fn for `warmup` s untimed, then for `seconds` s; per-call times."""
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        fn()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 3:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def work_layer(kind, column, warmup, seconds):
    import numpy as np
    lstmx, torch = setup_worker(column)
    T, B, H = 50, 32, 256
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, H)).astype(np.float32)
    dy = rng.standard_normal((T, B, H)).astype(np.float32)
    if column == "torch":
        layer = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(H, H)
        xt = torch.from_numpy(x).requires_grad_(True)
        dyt = torch.from_numpy(dy)

        def call():
            y, _ = layer(xt)
            y.backward(dyt)
    else:
        layer = (lstmx.LSTM if kind == "lstm" else lstmx.GRU)(H, H, seed=0)

        def call():
            layer(x)
            layer.backward(dy)
            layer.zero_grad()
    times = timed_calls(call, warmup, seconds)
    return {"value": 1e3 * statistics.median(times), "unit": "ms", "calls": len(times)}


def work_seq2seq(column, warmup, seconds):
    lstmx, torch = setup_worker(column)
    import bench_seq2seq as s2s  # beside this file, on sys.path
    import numpy as np
    from lstmx.seq2seq import Seq2Seq
    s2s.set_numpy_blas_threads(1)
    model = Seq2Seq(2000, 2000, 128, 128, attention_type="bahdanau", cell="lstm",
                    num_layers=1, bidirectional_encoder=True, seed=0, dtype=np.float32)
    batches = s2s.random_batches(4, 64, 2000, 2000, 10, 20, 0)
    if column == "torch":
        torch.manual_seed(0)
        runner = s2s.TorchRunner(s2s.torch_twin(model), 1e-3)
    else:
        runner = s2s.LstmxRunner(model, 1e-3)
    i = [0]
    tokens = [0]

    def step():
        batch = batches[i[0] % len(batches)]
        i[0] += 1
        runner.train_step(batch)
        tokens[0] += batch.num_tokens
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        step()
    tokens[0] = 0
    t = time.perf_counter()
    steps = 0
    while time.perf_counter() - t < seconds or steps < 2:
        step()
        steps += 1
    return {"value": tokens[0] / (time.perf_counter() - t), "unit": "tok/s", "calls": steps}


def work_threads4(column, warmup, seconds):
    import numpy as np
    lstmx, torch = setup_worker(column)
    T, H, n = 200, 256, 4
    x = np.random.default_rng(0).standard_normal((T, 1, H)).astype(np.float32)
    if column == "torch":
        torch.manual_seed(0)
        layers = [torch.nn.LSTM(H, H).eval() for _ in range(n)]
        xt = torch.from_numpy(x)

        def call(k):
            with torch.no_grad():
                layers[k](xt)
    else:
        layers = [lstmx.LSTM(H, H, seed=k).eval() for k in range(n)]

        def call(k):
            layers[k](x)
    per_thread = 4

    def in_sequence():
        for _ in range(per_thread):
            for k in range(n):
                call(k)

    def in_threads():
        threads = [threading.Thread(target=lambda k=k: [call(k) for _ in range(per_thread)])
                   for k in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        in_sequence()
        in_threads()
    ratios, seq_ms, thr_ms = [], [], []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(ratios) < 3:
        t0 = time.perf_counter()
        in_sequence()
        t1 = time.perf_counter()
        in_threads()
        t2 = time.perf_counter()
        ratios.append((t1 - t0) / (t2 - t1))
        seq_ms.append(1e3 * (t1 - t0) / (per_thread * n))
        thr_ms.append(1e3 * (t2 - t1) / (per_thread * n))
    return {"value": statistics.median(ratios), "unit": "x", "calls": len(ratios),
            "sequential_ms_per_call": statistics.median(seq_ms),
            "threads_ms_per_call": statistics.median(thr_ms)}


def run_worker(spec):
    work, column = spec["work"], spec["column"]
    if work in ("lstm", "gru"):
        out = work_layer(work, column, spec["warmup"], spec["seconds"])
    elif work == "seq2seq":
        out = work_seq2seq(column, spec["warmup"], spec["seconds"])
    else:
        out = work_threads4(column, spec["warmup"], spec["seconds"])
    if column != "torch":
        import lstmx
        out["policy"] = lstmx.threads.thread_policy()
    print(json.dumps(out))


# -- the driver ----------------------------------------------------------------------------


def measure(work, column, args):
    spec = {"work": work, "column": column, "warmup": args.warmup, "seconds": args.seconds}
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def busy_processes(n, limit):
    return [subprocess.Popen([sys.executable, "-c", BUSY, str(limit)]) for _ in range(n)]


def better(a, b, unit):
    """The better of two values: smaller time, larger rate."""
    return min(a, b) if unit == "ms" else max(a, b)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loads", default="0,1,3", help="busy processes beside lstmx (0,1,3)")
    p.add_argument("--work", default=",".join(WORKS), help=f"subset of {','.join(WORKS)}")
    p.add_argument("--columns", default=",".join(COLUMNS), help=f"subset of {','.join(COLUMNS)}")
    p.add_argument("--seconds", type=float, default=None, help="measured seconds per cell (4)")
    p.add_argument("--warmup", type=float, default=None, help="warm-up seconds per cell (1.5)")
    p.add_argument("--busy-limit", type=float, default=3600.0,
                   help="a busy process ends by itself after this many seconds (3600)")
    p.add_argument("--quick", action="store_true", help="smoke test: 1 s per cell")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return args
    args.seconds = args.seconds if args.seconds is not None else (1.0 if args.quick else 4.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 1.5)
    try:
        args.loads = [int(v) for v in args.loads.split(",")]
    except ValueError:
        p.error(f"--loads must be comma-separated integers, got {args.loads!r}")
    if any(v < 0 for v in args.loads):
        p.error(f"--loads must be >= 0, got {args.loads}")
    for name, allowed in (("work", WORKS), ("columns", COLUMNS)):
        chosen = getattr(args, name).split(",")
        bad = [v for v in chosen if v not in allowed]
        if bad:
            p.error(f"--{name}: unknown {bad}; choose from {','.join(allowed)}")
        setattr(args, name, chosen)
    if args.seconds <= 0 or args.warmup < 0 or args.busy_limit <= 0:
        p.error("--seconds and --busy-limit must be > 0, --warmup >= 0")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(json.loads(args.worker))
        return 0
    import lstmx
    start = time.perf_counter()
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
        args.columns = [c for c in args.columns if c != "torch"]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores "
          f"({lstmx.threads.available_cpus()} available to lstmx), lstmx {lstmx.__version__}, "
          f"torch {torch_version or 'not installed'}; {args.warmup:g} s warm-up + "
          f"{args.seconds:g} s per cell, each in a fresh process")
    results = []
    for load in args.loads:
        procs = busy_processes(load, args.busy_limit)
        try:
            time.sleep(0.5 if load else 0)
            for work in args.work:
                row = {"load": load, "work": work}
                for column in args.columns:
                    row[column] = measure(work, column, args)
                results.append(row)
                print_row(row, args.columns, header=len(results) == 1)
        finally:
            for proc in procs:
                proc.kill()
            for proc in procs:
                proc.wait()
    elapsed = time.perf_counter() - start
    print(f"# ms: median per call (lower is better); tok/s and threads4 (x): higher is better; "
          f"threads4 also gives (ms per call in threads). "
          f"auto/best: auto against the better fixed setting, in time (target <= 1.1); "
          f"torch/auto: torch's time over auto's (>= 1: lstmx at least as fast). "
          f"Wall time {elapsed:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"settings": {k: v for k, v in vars(args).items()
                                                      if k not in ("json", "worker")},
                                         "rows": results, "wall_time_s": elapsed}, indent=1))
    return 0


def print_row(row, columns, header):
    names = {"auto": "lstmx auto", "1": "1 thread", "2": "2 threads", "torch": "torch"}
    if header:
        print(f"{'load':>4} {'work':9} " + " ".join(f"{names[c]:>12}" for c in columns)
              + f" {'auto/best':>10} {'torch/auto':>10}  auto policy at the end")
    cells, unit = [], None
    for c in columns:
        r = row[c]
        if "error" in r:
            cells.append(f"{'error':>12}")
            continue
        unit = r["unit"]
        if unit == "x":  # the ratio, then the ms per call of the calls in threads
            cells.append(f"{r['value']:5.2f} ({r['threads_ms_per_call']:.2f})".rjust(12))
        else:
            cells.append(f"{r['value']:12.1f}")
    ratio = vs_torch = ""
    ok = all("error" not in row.get(c, {}) for c in ("auto", "1", "2") if c in columns)
    if ok and {"auto", "1", "2"} <= set(columns):
        best = better(row["1"]["value"], row["2"]["value"], unit)
        # in time: for rates the ratio is inverted
        ratio = row["auto"]["value"] / best if unit == "ms" else best / row["auto"]["value"]
        ratio = f"{ratio:10.2f}"
    if ok and unit != "x" and "torch" in columns and "auto" in columns and "error" not in row["torch"]:
        t, a = row["torch"]["value"], row["auto"]["value"]
        vs_torch = f"{(t / a if unit == 'ms' else a / t):10.2f}"
    policy = row.get("auto", {}).get("policy") or {}
    note = (f"size {policy['size']}, shrinks {policy['shrinks']}, grows {policy['grows']}, "
            f"probes {policy['probes']}") if policy else ""
    print(f"{row['load']:4d} {row['work']:9} " + " ".join(cells) + f" {ratio:>10} {vs_torch:>10}"
          f"  {note}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
