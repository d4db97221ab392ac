"""Data-parallel training over MPI against one process on one machine: training throughput
side by side, and the per-step compute and all-reduce times that the cost model in
docs/distributed.md needs.

    python benchmarks/bench_distributed.py                 # seq2seq, 5 rounds (~2-5 min on 2 cores)
    python benchmarks/bench_distributed.py --quick         # smoke test (~1 min)
    python benchmarks/bench_distributed.py --model char    # the character model (~1 min)
    python benchmarks/bench_distributed.py --rounds 7 --steps 60 --json /tmp/dist.json

``--model seq2seq`` (default) trains ``lstmx translate --demo``'s model on its data: the
shipped Tatoeba English->French corpus (``lstmx.data.tatoeba_en_fr``, no download),
sentencepiece vocabularies of 3000 pieces per language, Bahdanau Seq2Seq with E = H = 128
(bidirectional LSTM encoder, decoder 256), float32, Adam lr 3e-3, clipping at 1, global batch
128 pairs: the first ``warmup + steps`` batches of the demo's first epoch, prepared once
(tokenizers, model, batches) in a temporary folder. ``--model char`` trains ``lstmx generate
--demo``'s CharLM (LSTM, E 64, H 256, BPTT 64, Adam lr 3e-3, clip 5) on its text, global
batch 32 rows. Settings, each run in fresh processes:

    1 proc x C thr     one process, lstmx.set_num_threads(C) (C = the usable cores)
    1 proc x 1 thr     one process, one thread
    N ranks x C/N thr  ``mpiexec -n N`` (N = --ranks, 2), C/N threads each, the same global
                       batches split by rows, per-rank batch = global / N, one gradient
                       all-reduce per step: what ``Seq2Seq.fit`` (``ShardedSeq2SeqBatches``)
                       and ``train_for`` (``BPTTBatches.shard``) do

Each run is a ``Trainer.fit`` of ``--warmup`` steps (epoch 1, untimed: Adam's state and the
workspaces warm up) then ``--steps`` steps (epoch 2, timed); its figure is the Trainer's own
tokens/s of epoch 2 (target tokens or characters of the global batches). All settings
train the same global batches in the same order. Rounds run every setting once,
the order rotated each round (``lstmx.bench.interleaved_times``'s idea), so that the shared
machine's drift hits them all alike; the table gives medians over rounds (min-max), and the
ratio of the distributed setting to the better single-process one is taken round by round
(median, min-max) and of the medians. The target of issue 35: >= 0.95.

Per step, in ms, from timers wrapped around the Trainer's calls (a run's mean over its
steps, then the median over rounds; per rank for the distributed runs): ``compute`` = the
model's train_step (forward + backward), ``pack``/``reduce``/``unpack`` =
``allreduce_gradients``' copy into the flat buffer (each gradient times the rank's token
count), the MPI_Allreduce (including the wait for the slower rank) and the copy back;
``update`` = clipping + Adam; ``other`` = the rest of the Trainer's loop; ``wall`` = the
epoch's seconds per step. Below the table: each single-process setting's forward and
backward time and how much of the backward runs after the first gradients are final (what
overlapping the all-reduce with the backward pass could hide behind); per distributed
setting, the mean difference between the ranks' compute per step (what the faster rank
waits); and the bare MPI_Allreduce of the (parameters + 1 + N) x 4 byte buffer, timed after
training with the ranks lined up by a barrier before each call. For the seq2seq model the
header also estimates, over the demo's whole first epoch, the share of time ranks would
wait for the slowest one if each took whole bucketed batches by index (the Trainer's split
of a plain list) against dealing the rows of each batch (``balance``).

A benchmark, not a test: it never fails on slow numbers. Without mpi4py or an ``mpiexec``
(``pip install "lstmx[mpi]"``) the distributed settings are skipped.
"""

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the models and their training as the CLI trains them:
# seq2seq: ``lstmx translate --demo`` (lstmx/seq2seq/command.py DEMO; --data has the same sizes)
# char: ``lstmx generate --demo``'s defaults (lstmx/charlm/command.py)
MODELS = {
    "seq2seq": {"embedding": 128, "hidden": 128, "vocab": 3000, "lr": 3e-3, "clip": 1.0,
                "batch": 128, "steps": (40, 10), "unit": "target tokens"},
    "char": {"embedding": 64, "hidden": 256, "seq_len": 64, "lr": 3e-3, "clip": 5.0,
             "batch": 32, "steps": (150, 40), "unit": "characters"},
}
N_VALID, N_TEST = 1000, 1000
# the modules whose backward runs last (after the other modules' gradients are final)
LATE = {"seq2seq": ("bridge", "encoder"), "char": ("rnn", "embed")}


# -- preparation (once, in the driver) ------------------------------------------------------


def prepare_seq2seq(folder, batch, count, seed, ranks):
    """Write the demo's model (untrained) and the first ``count`` global batches of its
    first epoch to ``folder``; returns a description (parameters, sizes, tokens, and the
    ``balance`` estimate for ``batch / ranks`` pairs per rank)."""
    import numpy as np

    from lstmx.data.batching import bucket_batches
    from lstmx.data.subwords import SubwordTokenizer
    from lstmx.data.tatoeba_en_fr import tatoeba_en_fr
    from lstmx.seq2seq import Seq2Seq

    c = MODELS["seq2seq"]
    train, _, _ = tatoeba_en_fr(N_VALID, N_TEST, seed=seed)
    src_tok, tgt_tok = (SubwordTokenizer.train([p[side] for p in train], c["vocab"])
                        for side in (0, 1))
    model = Seq2Seq.from_pairs(train, embedding_dim=c["embedding"], hidden_dim=c["hidden"],
                               src_tokenizer=src_tok, tgt_tokenizer=tgt_tok,
                               attention_type="bahdanau", cell="lstm", num_layers=1,
                               dropout=0.0, seed=seed)
    model.save(os.path.join(folder, "model.npz"))
    # the demo's first-epoch batches (Seq2Seq.fit: seq2seq_batches(ids, batch, seed=seed + 0)),
    # as lists of (source ids, target ids)
    ids = model.pair_ids(train)
    src_len = [len(s) for s, _ in ids]
    tgt_len = [len(t) for _, t in ids]
    longest = max(tgt_len)
    key = [s * (longest + 1) + t for s, t in zip(src_len, tgt_len)]
    groups = [g for g in bucket_batches(key, batch, seed=seed) if len(g) == batch][:count]
    batches = [[ids[i] for i in g] for g in groups]
    with open(os.path.join(folder, "batches.pkl"), "wb") as f:
        pickle.dump({"global": batches}, f)
    v = model.tgt_vocab
    return {"description": f"the demo's Seq2Seq (Bahdanau, E = H = {c['embedding']}, vocab "
                           f"{len(model.src_vocab)}/{len(model.tgt_vocab)})",
            "parameters": int(sum(p.data.size for p in model.parameters())),
            "tokens_per_batch": statistics.mean(sum(len(t) + 1 for _, t in b)
                                                for b in batches),
            "pad_sos_eos": [v.pad_id, v.sos_id, v.eos_id],
            "per_rank_batch": batch // ranks,
            "balance": balance(np.array(src_len), np.array(tgt_len), batch // ranks, seed)}


def balance(src_len, tgt_len, batch, seed, ranks=(2, 4, 8, 16)):
    """How long the ranks wait for the slowest one in a whole epoch, two ways of splitting,
    by a cost model of a seq2seq step: rows x (padded source + 4 x padded target length), a
    decoder step costing about 4 encoder steps (a fit of measured 1-thread step times of the
    demo's model: 8 % rms error). Per
    N: the share of the ranks' time spent waiting, 1 - sum(mean part) / sum(largest part),
    when each of N ranks takes whole batches of ``batch`` pairs by index (rank = index mod
    N; what the Trainer does with a plain list) and when each takes rows r, r + N, ... of
    the length-sorted batches of N x ``batch`` pairs (``ShardedSeq2SeqBatches``)."""
    import numpy as np

    from lstmx.data.batching import bucket_batches

    key = src_len * (int(tgt_len.max()) + 1) + tgt_len

    def cost(rows):
        return len(rows) * (int(src_len[rows].max()) + 4 * int(tgt_len[rows].max()))

    def idle(parts):
        parts = np.array(parts, dtype=float)
        return float(1 - parts.mean(axis=1).sum() / parts.max(axis=1).sum())

    out = {}
    for n in ranks:
        whole = [cost(g) for g in bucket_batches(key, batch, seed=seed)]
        by_index = [whole[i:i + n] for i in range(0, len(whole) - n + 1, n)]
        by_rows = []
        for g in bucket_batches(key, n * batch, seed=seed):
            if len(g) == n * batch:
                g = g[np.lexsort((tgt_len[g], src_len[g]))]
                by_rows.append([cost(g[r::n]) for r in range(n)])
        out[n] = {"by_index": idle(by_index), "by_rows": idle(by_rows)}
    return out


def char_model(seed):
    """``lstmx generate --demo``'s model (untrained) and its encoded text."""
    from lstmx.charlm.corpus import stdlib_docstrings
    from lstmx.charlm.model import CharLM
    from lstmx.charlm.vocab import CharVocab

    c = MODELS["char"]
    text = stdlib_docstrings()
    vocab = CharVocab.from_text(text)
    model = CharLM(vocab, cell="lstm", embed_dim=c["embedding"], hidden_size=c["hidden"],
                   num_layers=1, dropout=0.0, seed=seed)
    return model, vocab.encode(text)


def prepare_char(folder, batch, count, seed, ranks):
    """The char model is rebuilt by each worker (the same seed, the same weights); returns
    its description."""
    c = MODELS["char"]
    model, ids = char_model(seed)
    if len(ids) < batch * c["seq_len"] * count + 1:
        raise SystemExit(f"the text has {len(ids)} characters, too few for {count} windows "
                         f"of {batch} x {c['seq_len']}")
    return {"description": f"the generate demo's CharLM (LSTM, E = {c['embedding']}, H = "
                           f"{c['hidden']}, {len(model.vocab)} characters, BPTT "
                           f"{c['seq_len']})",
            "parameters": int(sum(p.data.size for p in model.parameters())),
            "tokens_per_batch": batch * c["seq_len"]}


# -- a worker (one setting, one run; under mpiexec: every rank) -----------------------------


def worker_seq2seq(spec, ranks):
    """(model, warm-up batches, timed batches) of the seq2seq setting: the global batches as
    ``ShardedSeq2SeqBatches``, which one process iterates whole and the Trainer under MPI
    splits by rows (what ``Seq2Seq.fit`` does)."""
    from lstmx.data.batching import ShardedSeq2SeqBatches
    from lstmx.seq2seq import Seq2Seq

    folder = spec["folder"]
    model = Seq2Seq.load(os.path.join(folder, "model.npz")).train()
    with open(os.path.join(folder, "batches.pkl"), "rb") as f:
        saved = pickle.load(f)
    w, s = spec["warmup"], spec["steps"]
    pad, sos, eos = spec["ids"]

    def batches(group):
        # one pool per batch, in order: exactly these global batches
        flat = [pair for batch in group for pair in batch]
        return ShardedSeq2SeqBatches(flat, spec["batch"], shuffle=False, pool_factor=1,
                                     pad_id=pad, sos_id=sos, eos_id=eos)
    return model, batches(saved["global"][:w]), batches(saved["global"][w:w + s])


def worker_char(spec, ranks):
    """(model, warm-up windows, timed windows) of the char setting: ``BPTTBatches`` of the
    global batch over a prefix of the text, which the Trainer shards by rows."""
    from lstmx.charlm.dataset import BPTTBatches

    model, ids = char_model(spec["seed"])
    model.train()
    T, B = MODELS["char"]["seq_len"], spec["batch"]
    cut = B * T * spec["warmup"] + 1
    warm = BPTTBatches(ids[:cut], B, T)
    timed = BPTTBatches(ids[cut - 1:cut + B * T * spec["steps"]], B, T)
    return model, warm, timed


def run_worker(spec):
    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    import numpy as np

    import lstmx
    from lstmx import distributed as dist
    from lstmx.distributed import comm
    from lstmx.optim import Adam
    from lstmx.train import CrossEntropyLoss, Trainer
    from lstmx.train import trainer as trainer_module

    ranks, rank = dist.size(), dist.rank()
    if ranks != spec["ranks"]:
        raise SystemExit(f"expected {spec['ranks']} ranks, got {ranks} (is mpi4py installed "
                         "in this Python?)")
    auto_threads = lstmx.get_num_threads()  # the automatic policy's share, before fixing it
    lstmx.set_num_threads(spec["threads"])
    config = MODELS[spec["model"]]
    build = worker_seq2seq if spec["model"] == "seq2seq" else worker_char
    model, warm, timed = build(spec, ranks)

    times = {k: [] for k in ("compute", "allreduce", "pack", "unpack", "update", "forward",
                             "backward", "late")}
    tokens = []
    recording = [False]

    def timer(name, fn, after=None):
        def timed_call(*args, **kwargs):
            t = time.perf_counter()
            out = fn(*args, **kwargs)
            if recording[0]:
                times[name].append(time.perf_counter() - t)
                if after is not None:
                    after(out)
            return out
        return timed_call

    model.train_step = timer("compute", model.train_step, lambda out: tokens.append(out[1]))
    model.forward = timer("forward", model.forward)
    model.backward = timer("backward", model.backward)
    # the part of the backward pass that runs after the first gradients are final: the
    # seq2seq's bridge and encoder (after the decoder's), the char model's recurrent layer
    # and embedding (after the output layer's)
    late = LATE[spec["model"]]
    for name in late:
        module = getattr(model, name)
        module.backward = timer("late", module.backward)
    early_params = sum(p.data.size for p in model.parameters()) - sum(
        p.data.size for name in late for p in getattr(model, name).parameters())
    dist.allreduce_gradients = timer("allreduce", dist.allreduce_gradients)
    comm.pack_gradients = timer("pack", comm.pack_gradients)
    comm.unpack_gradients = timer("unpack", comm.unpack_gradients)
    clip = trainer_module.clip_grad_norm
    optimizer = Adam(model.parameters(), lr=config["lr"])
    step = optimizer.step

    def update(params, max_norm):  # the Trainer clips, then steps the optimizer
        t = time.perf_counter()
        out = clip(params, max_norm)
        step_start[0] = t
        return out

    step_start = [0.0]

    def optimizer_step():
        step()
        if recording[0]:
            times["update"].append(time.perf_counter() - step_start[0])

    trainer_module.clip_grad_norm = update
    optimizer.step = optimizer_step

    def epoch_batches(epoch):
        recording[0] = epoch == 1
        return warm if epoch == 0 else timed

    trainer = Trainer(model, optimizer, CrossEntropyLoss(), clip_norm=config["clip"],
                      progress=False, distributed=ranks > 1)
    history = trainer.fit(epoch_batches, epochs=2)
    recording[0] = False
    steps = len(timed)
    rate = history[1]["tokens_per_s"]  # the global batches' tokens / the epoch's seconds
    mine = {"rank": rank, "auto_threads": auto_threads, "threads": lstmx.get_num_threads(),
            "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
            else None, "tokens": tokens, "early_parameters": early_params,
            **{k: v for k, v in times.items()}}
    if ranks > 1:
        from mpi4py import MPI
        world = MPI.COMM_WORLD
        n_buf = sum(p.grad.size for p in model.parameters()) + 1 + ranks
        buf = np.zeros(n_buf, dtype=np.float32)
        alone = []
        for i in range(spec["reduce_repeats"] + 2):
            world.Barrier()
            t = time.perf_counter()
            world.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            if i >= 2:
                alone.append(time.perf_counter() - t)
        mine["allreduce_alone"] = alone
        everyone = world.gather(mine, root=0)
    else:
        everyone = [mine]
    if rank == 0:
        global_tokens = sum(sum(r["tokens"]) for r in everyone)
        out = {"tokens_per_s": rate, "steps": steps, "global_tokens": global_tokens,
               "wall_per_step": global_tokens / rate / steps,
               "ranks": everyone}
        print("RESULT " + json.dumps(out), flush=True)


# -- the driver -----------------------------------------------------------------------------


def find_mpiexec(given):
    """The mpiexec to launch with: --mpiexec, else the one beside this Python (a venv's,
    from the mpich wheel), else the first on PATH; None when there is none or no mpi4py."""
    import importlib.util
    if importlib.util.find_spec("mpi4py") is None:
        return None
    if given:
        return given
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    return shutil.which("mpiexec")


def launch(setting, spec, mpiexec, timeout):
    """Run one setting; its RESULT dict, or {"error": ...}."""
    spec = dict(spec, ranks=setting["ranks"], threads=setting["threads"])
    command = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)]
    if setting["ranks"] > 1:
        command = [mpiexec, "-n", str(setting["ranks"])] + command
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)  # the worker fixes its threads itself
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-3:]
    return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}


def median_ms(values):
    return 1e3 * statistics.median(values) if values else float("nan")


def mean_ms(values):
    return 1e3 * statistics.mean(values) if values else float("nan")


def summarize(result):
    """Per-step means (ms) of one run, per rank (means: the batches' lengths vary, and the
    parts must add up to the epoch's time)."""
    rows = []
    for r in result["ranks"]:
        allreduce = r["allreduce"]
        reduce = [a - p - u for a, p, u in zip(allreduce, r["pack"], r["unpack"])]
        rows.append({"rank": r["rank"], "compute": mean_ms(r["compute"]),
                     "pack": mean_ms(r["pack"]), "reduce": mean_ms(reduce),
                     "unpack": mean_ms(r["unpack"]), "update": mean_ms(r["update"]),
                     "forward": mean_ms(r["forward"]), "backward": mean_ms(r["backward"]),
                     "late": sum(r["late"]) * 1e3 / max(len(r["backward"]), 1),
                     "early_parameters": r["early_parameters"],
                     "tokens": statistics.mean(r["tokens"]) if r["tokens"] else 0,
                     "allreduce_alone": median_ms(r.get("allreduce_alone", [])),
                     "threads": r["threads"], "auto_threads": r["auto_threads"]})
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=None, help="rounds of all settings (5; --quick 2)")
    p.add_argument("--model", choices=sorted(MODELS), default="seq2seq",
                   help="what trains: the translate demo's seq2seq (default) or the generate "
                        "demo's char model")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps per run (seq2seq 40, char 150; --quick 10, 40)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (5; --quick 3)")
    p.add_argument("--batch", type=int, default=None,
                   help="global batch: sentence pairs (seq2seq, 128) or BPTT rows (char, 32)")
    p.add_argument("--ranks", type=int, default=2, help="ranks of the distributed setting (2)")
    p.add_argument("--mpiexec", default=None, help="the launcher (default: beside this Python, "
                   "else on PATH)")
    p.add_argument("--seed", type=int, default=0, help="split, weights, batch order (0)")
    p.add_argument("--quick", action="store_true", help="smoke test")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return args
    args.rounds = args.rounds if args.rounds is not None else (2 if args.quick else 5)
    config = MODELS[args.model]
    args.steps = args.steps if args.steps is not None else config["steps"][int(args.quick)]
    args.batch = args.batch if args.batch is not None else config["batch"]
    args.warmup = args.warmup if args.warmup is not None else (3 if args.quick else 5)
    for name in ("rounds", "steps", "warmup", "batch"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.ranks < 2:
        p.error(f"--ranks must be at least 2, got {args.ranks}")
    if args.batch % args.ranks:
        p.error(f"--batch {args.batch} must be a multiple of --ranks {args.ranks}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_worker(json.loads(args.worker))
        return 0
    from _common import available_cores, machine_info, write_json
    start = time.perf_counter()
    cores = available_cores()
    info = machine_info(None, None)
    mpiexec = find_mpiexec(args.mpiexec)
    settings = [{"name": f"1 proc x {cores} thr", "ranks": 1, "threads": cores},
                {"name": "1 proc x 1 thr", "ranks": 1, "threads": 1}]
    if cores == 1:
        settings = settings[1:]
    if mpiexec:
        per_rank = max(1, cores // args.ranks)
        settings.append({"name": f"{args.ranks} ranks x {per_rank} thr",
                         "ranks": args.ranks, "threads": per_rank})
    else:
        print("note: no mpi4py or mpiexec (pip install 'lstmx[mpi]'): the distributed "
              "setting is skipped")
    print(f"# {info['cpu_model']}, {info['os_cpu_count']} cores ({cores} available), load "
          f"{info['load_average_at_start']}; lstmx {info['lstmx_version']} (git "
          f"{info['lstmx_git']}), python {info['python']}, mpiexec {mpiexec or '-'}")
    folder = tempfile.mkdtemp(prefix="bench_distributed_")
    try:
        prepare = prepare_seq2seq if args.model == "seq2seq" else prepare_char
        data = prepare(folder, args.batch, args.warmup + args.steps, args.seed, args.ranks)
        prepared = time.perf_counter() - start
        n_buf = data["parameters"] + 1 + args.ranks
        config = MODELS[args.model]
        print(f"# {data['description']}, {data['parameters']:,} parameters, float32; global "
              f"batch {args.batch} ({data['tokens_per_batch']:.0f} {config['unit']} on "
              f"average), Adam lr {config['lr']:g}, clip {config['clip']:g}; {args.warmup} "
              f"warm-up + {args.steps} timed steps per run, {args.rounds} rounds, order "
              f"rotated; all-reduced per step: {n_buf:,} x 4 B = {4 * n_buf / 1e6:.2f} MB "
              f"(prepared in {prepared:.0f} s)")
        if "balance" in data:
            print(f"# waiting for the slowest rank over the whole first epoch, "
                  f"{data['per_rank_batch']} pairs per rank, by a cost model (rows x (padded "
                  "source + 4 x target length)): "
                  + "; ".join(f"N = {n}: {b['by_index']:.1%} taking whole batches by index, "
                              f"{b['by_rows']:.1%} dealing rows" for n, b in
                              data["balance"].items()))
        spec = {"model": args.model, "folder": folder, "warmup": args.warmup,
                "steps": args.steps, "batch": args.batch, "seed": args.seed,
                "ids": data.get("pad_sos_eos"), "reduce_repeats": 20}
        timeout = 120 + (2.0 if args.model == "seq2seq" else 0.5) * (args.warmup + args.steps)
        runs = {s["name"]: [] for s in settings}
        for r in range(args.rounds):
            k = r % len(settings)
            for s in settings[k:] + settings[:k]:
                result = launch(s, spec, mpiexec, timeout)
                runs[s["name"]].append(result)
                if "error" in result:
                    print(f"  round {r + 1}: {s['name']}: {result['error']}")
                else:
                    print(f"  round {r + 1}: {s['name']:16} {result['tokens_per_s']:8.0f} tok/s")
        report = report_table(settings, runs, args, n_buf)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    elapsed = time.perf_counter() - start
    print(f"# wall time {elapsed:.0f} s, load at end {[round(v, 2) for v in os.getloadavg()]}")
    if args.json:
        info["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        write_json(args.json, {"machine": info, "settings": {k: v for k, v in vars(args).items()
                                                             if k not in ("json", "worker")},
                               "model": data, "bytes_allreduced_per_step": 4 * n_buf,
                               "runs": runs, "summary": report, "wall_time_s": elapsed})
    return 0


def report_table(settings, runs, args, n_buf):
    """Print the table and the ratio; returns them as a dict."""
    print(f"\n{'setting':18} {'tokens/s: median (min-max)':>27} {'wall':>6} {'compute':>8} "
          f"{'pack':>5} {'reduce':>6} {'unpack':>6} {'update':>6} {'other':>6}  tokens/step")
    summary = {}
    parts = ("compute", "pack", "reduce", "unpack", "update")
    for s in settings:
        ok = [r for r in runs[s["name"]] if "error" not in r]
        if not ok:
            print(f"{s['name']:18} {'failed':>27}")
            continue
        rates = [r["tokens_per_s"] for r in ok]
        per_rank = [summarize(r) for r in ok]
        wall = statistics.median(1e3 * r["wall_per_step"] for r in ok)
        summary[s["name"]] = {"tokens_per_s": {"median": statistics.median(rates),
                                               "min": min(rates), "max": max(rates)},
                              "wall_ms": wall, "ranks": []}
        for rank in range(s["ranks"]):
            cols = {k: statistics.median(run[rank][k] for run in per_rank)
                    for k in parts + ("tokens", "forward", "backward", "late",
                                      "early_parameters")}
            if s["ranks"] == 1:
                cols.update(pack=0.0, reduce=0.0, unpack=0.0)
            cols["other"] = wall - sum(cols[k] for k in parts)
            summary[s["name"]]["ranks"].append(cols)
            name = s["name"] if rank == 0 else f"  rank {rank}"
            rate = (f"{statistics.median(rates):9.0f} ({min(rates):.0f}-{max(rates):.0f})"
                    if rank == 0 else "")
            wall_text = f"{wall:6.1f}" if rank == 0 else f"{'':6}"
            comm = ("    -      -      - " if s["ranks"] == 1 else
                    f"{cols['pack']:5.1f} {cols['reduce']:6.1f} {cols['unpack']:6.1f} ")
            print(f"{name:18} {rate:>27} {wall_text} {cols['compute']:8.1f} {comm}"
                  f"{cols['update']:6.1f} {cols['other']:6.1f}  {cols['tokens']:.0f}"
                  + (" (rank 0)" if s["ranks"] > 1 and rank == 0 else ""))
    singles = [s["name"] for s in settings if s["ranks"] == 1 and s["name"] in summary]
    for name in singles:
        c = summary[name]["ranks"][0]
        print(f"# {name}: forward {c['forward']:.1f} ms, backward {c['backward']:.1f} ms, of "
              f"which the last {c['late']:.1f} ms ({', '.join(LATE[args.model])}) run after "
              f"the gradients of {c['early_parameters'] / (n_buf - 1 - args.ranks):.0%} of the "
              "parameters are final")
    if singles:
        best = max(singles, key=lambda n: summary[n]["tokens_per_s"]["median"])
        print()
    ratios = {}
    for s in settings:
        name = s["name"]
        if s["ranks"] == 1 or name not in summary or not singles:
            continue
        per_round = []
        for i in range(args.rounds):
            d = runs[name][i]
            b = [runs[n][i] for n in singles]
            if "error" in d or any("error" in x for x in b):
                continue
            per_round.append(d["tokens_per_s"] / max(x["tokens_per_s"] for x in b))
        of_medians = (summary[name]["tokens_per_s"]["median"]
                      / summary[best]["tokens_per_s"]["median"])
        ratios[name] = {"best_single": best, "of_medians": of_medians, "per_round": per_round}
        rr = (f"{statistics.median(per_round):.3f} per round ({min(per_round):.3f}-"
              f"{max(per_round):.3f})" if per_round else "no complete round")
        print(f"{name} / the better single process ({best}): {of_medians:.3f} of the "
              f"medians, {rr}" + ("; target >= 0.95" if s.get("split", "rows") == "rows" else ""))
    summary["ratios"] = ratios
    for s in settings:
        ok = [r for r in runs[s["name"]] if "error" not in r]
        if s["ranks"] == 1 or not ok:
            continue
        gaps, shares = [], []
        for run in ok:  # per step: the slowest rank's compute - the fastest's
            steps = list(zip(*(r["compute"] for r in run["ranks"])))
            gap = statistics.mean(max(c) - min(c) for c in steps)
            gaps.append(1e3 * gap)
            shares.append(gap / run["wall_per_step"])
        summary[s["name"]]["imbalance_ms"] = statistics.median(gaps)
        print(f"{s['name']}: the ranks' compute differs by {statistics.median(gaps):.1f} ms "
              f"per step ({statistics.median(shares):.0%} of the step), which the faster "
              "rank spends waiting in the all-reduce")
        auto = sorted({r["auto_threads"] for run in ok for r in run["ranks"]})
        print(f"{s['name']}: lstmx's automatic policy gave each rank "
              f"{'/'.join(map(str, auto))} thread(s) before the setting fixed them")
    alone = [x for s in settings if s["ranks"] > 1 for run in runs[s["name"]]
             if "error" not in run for rank in run["ranks"]
             for x in rank.get("allreduce_alone", [])]
    if alone:
        alone_ms = median_ms(alone)
        summary["allreduce_alone_ms"] = alone_ms
        print(f"all-reduce of {4 * n_buf / 1e6:.2f} MB alone (ranks lined up by a barrier): "
              f"{alone_ms:.2f} ms median, {4 * n_buf / 1e6 / max(alone_ms, 1e-9):.2f} GB/s "
              "of buffer per second")
    print("# ms per step (a run's mean, the median over rounds): wall = the epoch's seconds "
          "per step; compute = forward + backward (train_step); pack/unpack = the copies into "
          "and out of the flat buffer; reduce = MPI_Allreduce incl. the wait for the slower "
          "rank; update = clipping + Adam; other = the rest of the Trainer's loop")
    return summary


if __name__ == "__main__":
    sys.exit(main())
