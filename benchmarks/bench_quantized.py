"""Quantized inference benchmark: lstmx int8 and bfloat16 layers against lstmx float32,
PyTorch float32 and PyTorch's dynamic int8 LSTM, side by side in one process (issue 36).

Every implementation runs the same weights (a seeded ``torch.nn`` layer's ``state_dict``
loaded into lstmx, which ``lstmx.quantize`` and ``torch.ao.quantization.quantize_dynamic``
then quantize) on the same inputs, inference forward only, interleaved round-robin per round
in bursts of calls (``bench_kernels.time_group``), so machine noise hits all of them alike.

    python benchmarks/bench_quantized.py                  # lat-b1, lat-b1-h512, nmt-m; LSTM; 2 threads
    python benchmarks/bench_quantized.py --quick          # smoke test
    python benchmarks/bench_quantized.py --cells lstm,gru --threads 4 --repeats 21
    python benchmarks/bench_quantized.py --sizes nmt-m --no-torch --json /tmp/q.json

Implementations (columns):
    torch fp32     ``torch.nn.LSTM`` (oneDNN on, torch's default) under ``inference_mode``
    torch int8     ``quantize_dynamic(Sequential(lstm), {nn.LSTM}, qint8)``: int8 weights,
                   activations quantized at every product (fbgemm / torch's quantized engine)
    lstmx fp32     the float32 layer in ``eval()``
    lstmx int8     ``lstmx.quantize(layer, "int8")``, on the product the CPU gives
                   (``_core.quantized_path("int8")``: AMX tiles where present)
    lstmx bf16     ``lstmx.quantize(layer, "bfloat16")``
    int8 no-AMX    the same int8 layer with ``_core.set_quantized_path("avx512")`` around each
                   call: the AVX-512 VNNI product (restored to "auto" after each call)

Three tables: times (median and min over every timed call, ms per forward); speed-ups, ratios
of medians and of minimums (> 1: the first named is faster), issue 36's targets checked on the
medians' ratios; accuracy: on the
first call's outputs, max and mean |y - y_fp32| against lstmx float32's y (torch float32's
own difference from it shows that the weights are the same). A benchmark, not a test: it
never fails on slow numbers.
"""

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

# _common first: it sets OPENBLAS_THREAD_TIMEOUT before NumPy loads, and imports lstmx
# before torch (see there)
from _common import (SIZES, comma_list, forward_flops, lstmx, machine_info,
                     set_numpy_blas_threads, torch, write_json)
from bench_kernels import BURST_S, MAX_BURST, MIN_BURST, Impl, build_group, time_group
import numpy as np  # noqa: E402,I001
from lstmx import _core  # noqa: E402
from lstmx.heap import keep_freed_memory  # noqa: E402

DEFAULT_SIZES = ["lat-b1", "lat-b1-h512", "nmt-m"]
CELLS = ("lstm", "gru")
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "quantized.json"

# implementation keys -> column titles, in table order
IMPLS = {"torch-fp32": "torch fp32", "torch-int8": "torch int8", "lstmx-fp32": "lstmx fp32",
         "lstmx-int8": "lstmx int8", "lstmx-bf16": "lstmx bf16", "lstmx-int8-noamx": "int8 no-AMX"}
BASELINE = "lstmx-fp32"  # the float32 output the accuracy table compares with

# speed-up columns: (title, faster, slower): slower's median / faster's median
RATIOS = [("int8/t-int8", "lstmx-int8", "torch-int8"), ("int8/fp32", "lstmx-int8", "lstmx-fp32"),
          ("bf16/t-int8", "lstmx-bf16", "torch-int8"), ("bf16/fp32", "lstmx-bf16", "lstmx-fp32"),
          ("noAMX/t-int8", "lstmx-int8-noamx", "torch-int8"),
          ("noAMX/fp32", "lstmx-int8-noamx", "lstmx-fp32"),
          ("fp32/t-fp32", "lstmx-fp32", "torch-fp32")]

# issue 36's speed targets (2 threads, LSTM): (title, ratio column, minimum, sizes)
TARGETS = [("lstmx int8 >= 1.5x torch dynamic int8", "int8/t-int8", 1.5,
            ("lat-b1", "lat-b1-h512", "nmt-m")),
           ("lstmx int8 >= 1.8x lstmx float32", "int8/fp32", 1.8, ("lat-b1-h512", "nmt-m"))]


# -- the implementations -----------------------------------------------------------------


def failed(name, error):
    """An Impl whose construction failed: time_group records the error and skips it."""
    def run():
        raise error
    return Impl(name, run, lambda: None, lambda out: {})


def lstmx_impl(name, layer, x, path=None):
    """An lstmx layer's inference forward; ``path`` set with ``set_quantized_path`` around
    each call (and the previous choice restored) when given."""
    if path is None:
        return Impl(name, lambda: layer(x)[0], lambda: None, lambda y: {"y": y})

    def run():
        previous = _core.set_quantized_path(path)
        try:
            return layer(x)[0]
        finally:
            _core.set_quantized_path(previous)

    return Impl(name, run, lambda: None, lambda y: {"y": y})


def torch_impl(name, module, x):
    xt = torch.from_numpy(x.copy())
    module.eval()

    def run():
        with torch.inference_mode():
            return module(xt)[0]

    return Impl(name, run, lambda: None, lambda y: {"y": y.numpy().copy()})


def torch_dynamic_int8(cell, module):
    """torch's dynamic int8 twin of ``module``. ``quantize_dynamic`` replaces submodules only
    (a bare top-level nn.LSTM comes back unchanged), hence the Sequential around it; the
    check makes sure the quantized class really runs."""
    kind = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
    want = {"lstm": torch.ao.nn.quantized.dynamic.LSTM, "gru": torch.ao.nn.quantized.dynamic.GRU}[cell]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's DeprecationWarning
        wrapped = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(module), {kind},
                                                         dtype=torch.qint8)
    if not isinstance(wrapped[0], want):
        raise RuntimeError(f"quantize_dynamic left {type(wrapped[0]).__name__}, not {want.__name__}")
    return wrapped


def no_amx_path():
    """The int8 product ``set_quantized_path("avx512")`` gives, or None where this CPU or
    build has none (the column is then skipped)."""
    try:
        previous = _core.set_quantized_path("avx512")
    except (RuntimeError, ValueError):
        return None
    try:
        return _core.quantized_path("int8")
    finally:
        _core.set_quantized_path(previous)


def make_impls(cell, layer, module, x, with_torch, with_no_amx):
    """The implementations of one (cell, size), in IMPLS order (absent ones left out)."""
    impls = []
    if with_torch:
        impls.append(torch_impl("torch-fp32", module, x))
        try:
            impls.append(torch_impl("torch-int8", torch_dynamic_int8(cell, module), x))
        except Exception as e:  # a benchmark reports a broken implementation, it does not stop
            impls.append(failed("torch-int8", e))
    layer.eval()
    impls.append(lstmx_impl("lstmx-fp32", layer, x))
    quantized = {}
    for dtype, name in (("int8", "lstmx-int8"), ("bfloat16", "lstmx-bf16")):
        try:
            quantized[dtype] = lstmx.quantize(layer, dtype)
            impls.append(lstmx_impl(name, quantized[dtype], x))
        except Exception as e:
            impls.append(failed(name, e))
    if with_no_amx:
        if "int8" in quantized:
            impls.append(lstmx_impl("lstmx-int8-noamx", quantized["int8"], x, path="avx512"))
        else:
            impls.append(failed("lstmx-int8-noamx", RuntimeError("no int8 layer")))
    return impls


# -- results -----------------------------------------------------------------------------


def group_result(cell, size, impls):
    """One (cell, size): per implementation its times, median, min, GOP/s and accuracy
    against BASELINE; the speed-up ratios of medians."""
    T, B, I, H = SIZES[size]
    ops = forward_flops(cell, T, B, I, H)
    by_name = {impl.name: impl for impl in impls}
    base = by_name.get(BASELINE)
    base_y = np.asarray(base.outputs["y"], np.float64) if base is not None and base.outputs else None
    int8 = by_name.get("lstmx-int8")
    impl_rows = {}
    for impl in impls:
        med = statistics.median(impl.times) if impl.times else None
        row = {"calls": len(impl.times), "burst": impl.burst,
               "times_ms": [1e3 * t for t in impl.times],
               "median_ms": None if med is None else 1e3 * med,
               "min_ms": 1e3 * min(impl.times) if impl.times else None,
               "gops": None if med is None else ops / med / 1e9,
               "max_abs_diff": None, "mean_abs_diff": None, "error": impl.error}
        if base_y is not None and impl.outputs:
            d = np.abs(np.asarray(impl.outputs["y"], np.float64) - base_y)
            row["max_abs_diff"], row["mean_abs_diff"] = float(d.max()), float(d.mean())
        if impl.name == "lstmx-int8-noamx" and impl.outputs and int8 is not None and int8.outputs:
            row["bitwise_equal_to_int8"] = bool(np.array_equal(impl.outputs["y"], int8.outputs["y"]))
        impl_rows[impl.name] = row
    ratios, min_ratios = {}, {}
    for title, fast, slow in RATIOS:
        for out, key in ((ratios, "median_ms"), (min_ratios, "min_ms")):
            f = impl_rows.get(fast, {}).get(key)
            s = impl_rows.get(slow, {}).get(key)
            out[title] = None if not f or not s else s / f
    return {"cell": cell, "size": size, "T": T, "B": B, "I": I, "H": H, "gop": ops / 1e9,
            "impls": impl_rows, "ratios": ratios, "min_ratios": min_ratios}


def num(v, fmt):
    return "-" if v is None else format(v, fmt)


def print_times(results):
    print("time per forward, ms: median (min) over every timed call; - where not run")
    head = f"{'cell':<4}  {'size':<11}" + "".join(f"  {title:>16}" for title in IMPLS.values())
    print(head)
    print("-" * len(head))
    for res in results:
        cells = []
        for name in IMPLS:
            row = res["impls"].get(name)
            if row is None:
                cells.append("-")
            elif row["error"]:
                cells.append("failed")
            else:
                cells.append(f"{row['median_ms']:.2f} ({row['min_ms']:.2f})")
        print(f"{res['cell']:<4}  {res['size']:<11}" + "".join(f"  {c:>16}" for c in cells))
    print()


def print_ratios(results):
    print("speed-ups: ratio of medians (ratio of minimums); > 1: the first named is faster; "
          "t-int8 = torch dynamic int8, t-fp32 = torch float32, noAMX = lstmx int8 on the "
          "AVX-512 VNNI product")
    head = f"{'cell':<4}  {'size':<11}" + "".join(f"  {title:>13}" for title, _, _ in RATIOS)
    print(head)
    print("-" * len(head))
    for res in results:
        cells = [ratio_cell(res, t) for t, _, _ in RATIOS]
        print(f"{res['cell']:<4}  {res['size']:<11}" + "".join(f"  {c:>13}" for c in cells))
    print()


def ratio_cell(res, title):
    """``median-ratio (min-ratio)``, or - where a side is missing."""
    med, low = res["ratios"][title], res["min_ratios"][title]
    return "-" if med is None else f"{med:.2f} ({num(low, '.2f')})"


def print_accuracy(results):
    print(f"accuracy: |y - y_fp32| against {IMPLS[BASELINE]}'s y on the same weights and inputs "
          "(first call)")
    head = f"{'cell':<4}  {'size':<11}  {'impl':<12}  {'max|Δ|':>9}  {'mean|Δ|':>9}  note"
    print(head)
    print("-" * len(head))
    for res in results:
        for name, title in IMPLS.items():
            row = res["impls"].get(name)
            if name == BASELINE or row is None or row["max_abs_diff"] is None:
                continue
            note = ""
            if "bitwise_equal_to_int8" in row:
                note = ("bit-identical to lstmx int8" if row["bitwise_equal_to_int8"]
                        else "DIFFERS from lstmx int8")
            print(f"{res['cell']:<4}  {res['size']:<11}  {title:<12}  {row['max_abs_diff']:9.2e}  "
                  f"{row['mean_abs_diff']:9.2e}  {note}")
    print()


def check_targets(results):
    """Issue 36's targets on this run's LSTM rows: a list of (title, [(size, value, met)])."""
    lstm = {r["size"]: r for r in results if r["cell"] == "lstm"}
    checks = []
    for title, column, minimum, sizes in TARGETS:
        got = [(s, lstm[s]["ratios"][column], lstm[s]["min_ratios"][column])
               for s in sizes if s in lstm]
        checks.append((title, [(s, (v, low), v >= minimum) for s, v, low in got if v is not None]))
    for dtype, name in (("int8", "lstmx-int8"), ("bf16", "lstmx-bf16")):
        got = []
        for size, r in lstm.items():
            mine = r["impls"].get(name, {}).get("max_abs_diff")
            theirs = r["impls"].get("torch-int8", {}).get("max_abs_diff")
            if mine is not None and theirs is not None:
                got.append((size, mine / theirs if theirs else None, mine <= theirs))
        checks.append((f"lstmx {dtype} max|Δ| <= torch int8's (value: the ratio of the two)", got))
    return checks


def print_targets(checks):
    print("issue 36's targets (this run; layer speed-ups judged on the ratios of medians, "
          "minimums' in parentheses; timings vary ±15-25 % on a shared machine):")
    for title, got in checks:
        if got:
            print(f"  {title}: " + ", ".join(f"{s} {target_value(v)} {'met' if ok else 'NOT met'}"
                                              for s, v, ok in got))


def target_value(v):
    if isinstance(v, tuple):
        return f"{num(v[0], '.2f')} ({num(v[1], '.2f')})"
    return num(v, ".4g")


# -- whole models: the translation demo's BLEU and beam-search time, a char model's bpc ---

MODEL_DTYPES = ("float32", "int8", "bfloat16")


def variants(model):
    """{dtype: the model, or its quantized copy}."""
    return {dt: model if dt == "float32" else lstmx.quantize(model, dt) for dt in MODEL_DTYPES}


def translation_rows(path, rounds, beam_size):
    """Held-out BLEU and beam-search time of a translation checkpoint (``lstmx translate
    --demo --save PATH``) on the shipped corpus's test split (the demo's: seed 0), in float32,
    int8 and bfloat16; the three decode the whole split in turn, ``rounds`` times."""
    from lstmx.data.tatoeba_en_fr import tatoeba_en_fr
    from lstmx.metrics import corpus_bleu
    from lstmx.seq2seq import Seq2Seq
    from lstmx.seq2seq.command import DEMO
    model = Seq2Seq.load(path)
    _, _, test = tatoeba_en_fr(DEMO["n_valid"], DEMO["n_test"], seed=0)
    sources, references = [s for s, _ in test], [t for _, t in test]
    models = variants(model)
    times = {dt: [] for dt in models}
    bleu = {}
    for r in range(rounds):
        for dt, m in (list(models.items()) if r % 2 == 0 else list(models.items())[::-1]):
            t0 = time.perf_counter()
            hyps = m.translate_batch(sources, beam_size=beam_size)
            times[dt].append(time.perf_counter() - t0)
            bleu[dt] = corpus_bleu(hyps, [references]).score
    return {"checkpoint": str(path), "pairs": len(test), "beam_size": beam_size,
            "rows": [{"dtype": dt, "bleu": bleu[dt], "seconds": min(times[dt]),
                      "all_seconds": times[dt]} for dt in models]}


def char_rows(path, text_path, val_fraction):
    """Validation bits per character of a char-model checkpoint (``lstmx generate ... --save
    PATH``) on the held-out end of its text (``--char-text``, default the ``--demo`` corpus),
    in float32, int8 and bfloat16."""
    from lstmx.charlm.corpus import stdlib_docstrings
    from lstmx.charlm.dataset import BPTTBatches
    from lstmx.charlm.evaluate import evaluate
    from lstmx.charlm.train import split_ids
    from lstmx.arguments import read_utf8_text
    from lstmx.train.checkpoint import load_model
    model = load_model(path)
    text = read_utf8_text(text_path) if text_path else stdlib_docstrings()
    _, val_ids = split_ids(model.vocab.encode(text), val_fraction)
    batches = BPTTBatches(val_ids, 32, 64)
    return {"checkpoint": str(path), "characters": int(len(val_ids)),
            "rows": [{"dtype": dt, "bpc": evaluate(m, batches)["bpc"]}
                     for dt, m in variants(model).items()]}


def print_models(models):
    tr, ch = models.get("translation"), models.get("char")
    if tr:
        base = tr["rows"][0]
        print(f"translation: {tr['checkpoint']}, {tr['pairs']} held-out pairs, beam size "
              f"{tr['beam_size']}; time: the fastest of the rounds")
        print(f"{'dtype':10s} {'BLEU':>7s} {'Δ BLEU':>7s} {'beam s':>8s} {'speed-up':>9s}")
        for row in tr["rows"]:
            print(f"{row['dtype']:10s} {row['bleu']:7.2f} {row['bleu'] - base['bleu']:+7.2f} "
                  f"{row['seconds']:8.2f} {base['seconds'] / row['seconds']:8.2f}x")
        print()
    if ch:
        base = ch["rows"][0]
        print(f"char model: {ch['checkpoint']}, {ch['characters']:,} held-out characters")
        print(f"{'dtype':10s} {'bpc':>7s} {'Δ bpc':>8s}")
        for row in ch["rows"]:
            print(f"{row['dtype']:10s} {row['bpc']:7.4f} {row['bpc'] - base['bpc']:+8.4f}")
        print()


def model_targets(models):
    """issue 36's model targets: [(title, [(what, value, met)])]."""
    out = []
    tr, ch = models.get("translation"), models.get("char")
    if tr:
        rows = {r["dtype"]: r for r in tr["rows"]}
        base = rows["float32"]
        out.append(("translation BLEU within 0.5 of float32",
                    [(dt, round(rows[dt]["bleu"] - base["bleu"], 2),
                      abs(rows[dt]["bleu"] - base["bleu"]) <= 0.5) for dt in ("int8", "bfloat16")]))
        speed = base["seconds"] / rows["int8"]["seconds"]
        out.append(("beam search >= 1.5x faster quantized (int8) than float32",
                    [("int8", round(speed, 2), speed >= 1.5)]))
    if ch:
        rows = {r["dtype"]: r for r in ch["rows"]}
        out.append(("char model bpc within 0.02 of float32",
                    [(dt, round(rows[dt]["bpc"] - rows["float32"]["bpc"], 4),
                      abs(rows[dt]["bpc"] - rows["float32"]["bpc"]) <= 0.02)
                     for dt in ("int8", "bfloat16")]))
    return out


# -- command line ------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=comma_list(list(SIZES)), default=DEFAULT_SIZES,
                   help=f"comma-separated subset of {', '.join(SIZES)} "
                        f"(default: {','.join(DEFAULT_SIZES)})")
    p.add_argument("--cells", type=comma_list(list(CELLS)), default=["lstm"],
                   help="comma-separated cells: lstm, gru (default: lstm)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for lstmx, torch and NumPy's BLAS (default 2, issue 36's setting)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed rounds (default 25, --quick 2); a round is one burst of calls "
                        "of every implementation (--burst)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed calls of each implementation first (default 2, --quick 1; min 1)")
    p.add_argument("--burst", type=float, default=BURST_S,
                   help=f"seconds of back-to-back calls per implementation and round (default "
                        f"{BURST_S}: {MIN_BURST}-{MAX_BURST} calls; 0 gives one call per round)")
    p.add_argument("--release-memory", action="store_true",
                   help="leave glibc's malloc thresholds alone (default: freed memory stays in "
                        "the heap, see lstmx.heap.keep_freed_memory)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch's columns")
    p.add_argument("--no-amx-column", action="store_true",
                   help="skip the int8 no-AMX column")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON,
                   help="where to write the results (default: benchmarks/results/quantized.json)")
    p.add_argument("--quick", action="store_true", help="smoke test: 2 rounds, 1 warm-up")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and inputs (default 0)")
    m = p.add_argument_group("whole models (issue 36's accuracy and beam-search targets)")
    m.add_argument("--translation", metavar="PATH", type=Path, default=None,
                   help="a translation checkpoint (lstmx translate --demo saves translation.npz): "
                        "held-out BLEU and beam-search time in float32, int8 and bfloat16")
    m.add_argument("--beam-size", type=int, default=5, help="beam width for --translation")
    m.add_argument("--rounds", type=int, default=3,
                   help="decodings of the test split per dtype for --translation (default 3)")
    m.add_argument("--char", metavar="PATH", type=Path, default=None,
                   help="a char-model checkpoint (lstmx generate --demo --save PATH): validation "
                        "bits per character in float32, int8 and bfloat16")
    m.add_argument("--char-text", metavar="FILE", default=None,
                   help="the text the char model was trained on (default: the --demo corpus)")
    m.add_argument("--val-fraction", type=float, default=0.05,
                   help="held-out end of that text, as in training (default 0.05)")
    m.add_argument("--models-only", action="store_true",
                   help="skip the layer timings: only --translation and --char")
    args = p.parse_args(argv)
    for name in ("translation", "char"):
        path = getattr(args, name)
        if path is not None and not path.is_file():
            p.error(f"--{name}: no such file: {path}")
    if args.models_only and not (args.translation or args.char):
        p.error("--models-only needs --translation PATH and/or --char PATH")
    args.repeats = args.repeats if args.repeats is not None else (2 if args.quick else 25)
    args.warmup = max(1, args.warmup if args.warmup is not None else (1 if args.quick else 2))
    if args.repeats < 1:
        p.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.threads < 1:
        p.error(f"--threads must be at least 1, got {args.threads}")
    return args


def print_header(info, args, paths, with_torch):
    b = info["lstmx_build_info"]
    print("lstmx quantized inference benchmark", info["date"])
    print(f"cpu: {info['cpu_model']}; os.cpu_count()={info['os_cpu_count']}, "
          f"available={info['cpus_available']}; load average at start {info['load_average_at_start']}")
    print(f"threads: requested {info['threads_requested']}; lstmx {info['lstmx_threads']}, "
          f"torch {info.get('torch_threads', '-') if with_torch else '-'}, "
          f"numpy BLAS {info['numpy_blas_threads'] or 'not set'}")
    print(f"lstmx {info['lstmx_version']} (git {info['lstmx_git']}): {b.get('compiler')}, "
          f"OpenMP {b.get('openmp_version')}, simd={','.join(b.get('simd', []))}")
    print(f"lstmx quantized products: int8 {paths['int8']}, bfloat16 {paths['bfloat16']}, "
          f"int8 no-AMX column {paths['int8_no_amx'] or 'not available (skipped)'}")
    if with_torch:
        print(f"torch {info['torch_version']} (get_num_threads={info['torch_threads']}, "
              f"quantized engine {info['torch_quantized_engine']}, mkldnn enabled="
              f"{info['torch_mkldnn_enabled']}); numpy {info['numpy_version']}")
    else:
        print(f"torch not used; numpy {info['numpy_version']}")
    print(f"OpenMP runtime(s) in this process: {', '.join(info['openmp_runtimes_loaded']) or 'none'}")
    if info["environment"]:
        print("environment:", " ".join(f"{k}={v}" for k, v in info["environment"].items()))
    print(f"inference forward, float32 in and out; {args.repeats} rounds after {args.warmup} "
          f"warm-up call(s), implementations interleaved, order rotated each round, each one's "
          f"calls in bursts of about {args.burst * 1e3:.0f} ms ({MIN_BURST}-{MAX_BURST} calls, "
          f"all timed)")
    print("sizes:", ", ".join(f"{s} (T={SIZES[s][0]}, B={SIZES[s][1]}, I={SIZES[s][2]}, "
                              f"H={SIZES[s][3]})" for s in args.sizes))
    print()


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    with_torch = torch is not None and not args.no_torch
    if torch is None and not args.no_torch:
        print("note: torch is not installed; running without its columns")
    threads = args.threads
    lstmx.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    numpy_threads = set_numpy_blas_threads(threads)
    kept = keep_freed_memory() if not args.release_memory else False

    paths = {"int8": _core.quantized_path("int8"), "bfloat16": _core.quantized_path("bfloat16"),
             "int8_no_amx": None if args.no_amx_column else no_amx_path()}
    info = machine_info(threads, numpy_threads)
    info["malloc_keeps_freed_memory"] = kept
    info["lstmx_quantized_paths"] = paths
    if torch is not None:
        info["torch_quantized_engine"] = torch.backends.quantized.engine
    print_header(info, args, paths, with_torch)

    results = []
    for cell in ([] if args.models_only else args.cells):
        for size in args.sizes:
            layer, module, _, x, _ = build_group(cell, size, np.float32, with_torch, args.seed)
            impls = make_impls(cell, layer, module, x, with_torch, paths["int8_no_amx"] is not None)
            time_group(impls, args.repeats, args.warmup, 0.0, args.quick, args.burst)
            res = group_result(cell, size, impls)
            results.append(res)
            errors = [f"{n}: {r['error']}" for n, r in res["impls"].items() if r["error"]]
            done = ", ".join(f"{IMPLS[n]} {r['median_ms']:.2f}" for n, r in res["impls"].items()
                             if r["median_ms"] is not None)
            print(f"{cell} {size}: {done} ms" + (f"; failed: {'; '.join(errors)}" if errors else ""),
                  flush=True)
    print()
    _core.set_quantized_path("auto")  # each no-AMX call restored it already; to be sure

    checks = []
    if results:
        print_times(results)
        print_ratios(results)
        print_accuracy(results)
        checks = check_targets(results)
    models = {}
    if args.translation:
        models["translation"] = translation_rows(args.translation, args.rounds, args.beam_size)
    if args.char:
        models["char"] = char_rows(args.char, args.char_text, args.val_fraction)
    print_models(models)
    checks += model_targets(models)
    print_targets(checks)
    elapsed = time.perf_counter() - start
    print(f"load average at end {[round(v, 2) for v in os.getloadavg()]}; wall time {elapsed:.0f} s")

    info["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    result = {
        "machine": info,
        "settings": {"sizes": {s: dict(zip("TBIH", SIZES[s])) for s in args.sizes},
                     "cells": args.cells, "threads": threads, "repeats": args.repeats,
                     "warmup": args.warmup, "burst_s": args.burst, "quick": args.quick,
                     "seed": args.seed, "torch": with_torch, "baseline": BASELINE,
                     "implementations": IMPLS},
        "results": results,
        "models": models,
        "targets": [{"target": t, "rows": [
            {"size": s, "median_ratio": v[0], "min_ratio": v[1], "met": ok} if isinstance(v, tuple)
            else {"size": s, "value": v, "met": ok} for s, v, ok in got]} for t, got in checks],
        "wall_time_s": elapsed,
    }
    write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
