"""End-to-end seq2seq benchmark: lstmx's Bahdanau Seq2Seq against the same model in PyTorch.

Training throughput (target tokens per second of forward + backward + Adam step, teacher
forcing, cross-entropy over the real target tokens) and greedy decoding throughput (source
sentences per second, batched), both implementations side by side in one process,
interleaved round-robin (order rotated each round), medians after a warm-up.

    python benchmarks/bench_seq2seq.py                       # batch 64, vocab 2000, E = H = 128
    python benchmarks/bench_seq2seq.py --quick               # smoke test
    python benchmarks/bench_seq2seq.py --hidden 256 --threads 1 --json /tmp/s2s.json

The PyTorch twin is written in this file, module for module what lstmx computes
(``lstmx.seq2seq``: model.py, encoder.py, decoder.py, attention.py):

    encoder   Embedding(V_src, E, padding_idx=0) -> bidirectional LSTM(E, H) over the packed
              batch (pack_padded_sequence; memory (S, B, K = 2H), zeros past each length)
    bridge    h0 = tanh(W_h [h_fwd; h_bwd] + b_h), c0 = tanh(W_c [c_fwd; c_bwd] + b_c)  (K -> K)
    decoder   per step t, batched:  ctx, a = attend(h_{t-1})
              (additive: v · tanh(W_q h + W_m m_j), W_m m_j once per batch, padding masked)
              h_t, c_t = LSTMCell([e_t; ctx], (h, c));  h̃_t = tanh(W_c [h_t; ctx] + b_c)
              logits = W_o h̃ + b_o once over all steps (T, B, V_tgt)
    loss      mean cross-entropy over the real target tokens (padding ignored)
    greedy    the same step; log-softmax in float64 with <pad> and <sos> excluded, argmax,
              a row stops at <eos> or at 2·len(src)+10 tokens, the batch when all rows stop

Its parameters carry lstmx's names and shapes (``twin.state_dict()`` keys equal
``model.state_dict()`` keys), and it is loaded with lstmx's initial weights, so both start
from identical models. Before timing, one batch checks the two: |Δ| of the training loss,
the largest gradient difference over all parameters, and whether greedy decoding gives the
same tokens. Both then run the same seeded random batches (source and target lengths drawn
in [10, 20], padded; tokens uniform over the non-special ids).

Threads: lstmx and torch get ``--threads`` (default ``lstmx.get_num_threads()``); NumPy's
own BLAS (used by lstmx's attention, output projection and cell projections) is set to one
thread, as lstmx's Trainer and translate do (see ``lstmx/threads.py``). No gradient clipping.
A benchmark, not a test: it never fails on slow numbers.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")  # see bench_kernels.py

import numpy as np  # noqa: E402

import lstmx  # noqa: E402  (before torch: one OpenMP runtime, see bench_kernels.py)
from lstmx.bench import interleaved_times  # noqa: E402
from lstmx.data.batching import make_seq2seq_batch  # noqa: E402
from lstmx.data.vocab import EOS_ID, PAD_ID, SOS_ID  # noqa: E402
from lstmx.optim import Adam  # noqa: E402
from lstmx.seq2seq import Seq2Seq, greedy_search  # noqa: E402
from lstmx.train import CrossEntropyLoss  # noqa: E402

from _common import machine_info, set_numpy_blas_threads, write_json  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None

SPECIALS = 4  # ids 0..3: <pad> <sos> <eos> <unk>; random tokens are drawn from 4..V-1


# -- data ----------------------------------------------------------------------------------


def random_batches(count, batch, vocab_src, vocab_tgt, min_len, max_len, seed):
    """``count`` Seq2SeqBatch of random tokens: source ``tokens <eos>`` of length in
    [min_len, max_len], target ``y`` of length in [min_len, max_len] (``<sos> y`` in,
    ``y <eos>`` out), padded with <pad>."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        src = [list(rng.integers(SPECIALS, vocab_src, n - 1)) + [EOS_ID]
               for n in rng.integers(min_len, max_len + 1, batch)]
        tgt = [list(rng.integers(SPECIALS, vocab_tgt, n))
               for n in rng.integers(min_len, max_len + 1, batch)]
        out.append(make_seq2seq_batch(src, tgt, PAD_ID, SOS_ID, EOS_ID))
    return out


def decode_limits(src_lengths):
    """Output tokens allowed per row: 2 * source length + 10 (lstmx's translate default)."""
    return 2 * np.asarray(src_lengths) + 10


# -- the PyTorch twin ----------------------------------------------------------------------


def torch_twin(model):
    """A torch.nn.Module with the parameters of ``model`` (a bidirectional 1-layer LSTM
    Bahdanau ``Seq2Seq``) under the same names, loaded with a copy of its weights."""
    nn = torch.nn
    E, K = model.embedding_dim, 2 * model.hidden_dim
    att = model.decoder.attention
    twin = nn.Module()
    twin.encoder = nn.ModuleDict({
        "embedding": nn.Embedding(model.vocab_size_src, E, padding_idx=PAD_ID),
        "rnn": nn.LSTM(E, model.hidden_dim, bidirectional=True)})
    twin.bridge = nn.ModuleDict({"h": nn.Linear(K, K), "c": nn.Linear(K, K)})
    twin.decoder = nn.ModuleDict({
        "embedding": nn.Embedding(model.vocab_size_tgt, E, padding_idx=PAD_ID),
        "attention": nn.ParameterDict({
            "query_weight": nn.Parameter(torch.empty(att.attention_dim, K)),
            "memory_weight": nn.Parameter(torch.empty(att.attention_dim, K)),
            "v": nn.Parameter(torch.empty(att.attention_dim))}),
        "cell0": nn.LSTMCell(E + K, K),
        "combine": nn.Linear(2 * K, K),
        "out": nn.Linear(K, model.vocab_size_tgt)})
    # strict: every parameter of each side has its counterpart, shapes checked by torch
    twin.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()})
    return twin.float()


def torch_encode(twin, src, lengths):
    """memory (S, B, K) and the decoder's initial (h0, c0) (B, K), as lstmx's encode."""
    enc, bridge = twin.encoder, twin.bridge
    x = enc["embedding"](src)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, (h, c) = enc["rnn"](packed)
    memory, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=src.shape[0])
    h = torch.cat([h[0], h[1]], dim=1)  # (2, B, H) -> (B, 2H): forward then backward
    c = torch.cat([c[0], c[1]], dim=1)
    return memory, (torch.tanh(bridge["h"](h)), torch.tanh(bridge["c"](c)))


class TorchAttention:
    """Additive attention over one batch's memory: keys W_m m_j computed once, padding masked."""

    def __init__(self, params, memory, lengths):
        self.p = params
        self.mem = memory.transpose(0, 1)  # (B, S, K)
        self.keys = self.mem @ params["memory_weight"].t()  # (B, S, A)
        S = memory.shape[0]
        self.pad = torch.arange(S)[None, :] >= lengths[:, None]  # (B, S) True on padding

    def __call__(self, query):
        e = torch.tanh(self.keys + (query @ self.p["query_weight"].t())[:, None, :])
        scores = (e @ self.p["v"]).masked_fill(self.pad, float("-inf"))
        weights = torch.softmax(scores, dim=1)
        return torch.bmm(weights[:, None, :], self.mem)[:, 0], weights


def torch_advance(dec, attend, e, h, c):
    """One Bahdanau step from embedded tokens ``e (B, E)``: (h̃, h, c)."""
    context, _ = attend(h)
    h, c = dec["cell0"](torch.cat([e, context], dim=1), (h, c))
    return torch.tanh(dec["combine"](torch.cat([h, context], dim=1))), h, c


def torch_forward(twin, src, lengths, tgt_in):
    """Logits (T, B, V_tgt) under teacher forcing, as lstmx's ``Seq2Seq.forward``."""
    memory, (h, c) = torch_encode(twin, src, lengths)
    dec = twin.decoder
    attend = TorchAttention(dec["attention"], memory, lengths)
    emb = dec["embedding"](tgt_in)
    tildes = []
    for t in range(tgt_in.shape[0]):
        tilde, h, c = torch_advance(dec, attend, emb[t], h, c)
        tildes.append(tilde)
    return dec["out"](torch.stack(tildes))


def torch_loss(logits, tgt_out):
    """Mean cross-entropy over real target tokens (<pad> targets ignored)."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                           ignore_index=PAD_ID)


def torch_greedy(twin, src, lengths, limits):
    """Greedy decoding as ``lstmx.seq2seq.greedy_search``: a list of B output id lists
    (without <eos>)."""
    memory, (h, c) = torch_encode(twin, src, lengths)
    dec = twin.decoder
    attend = TorchAttention(dec["attention"], memory, lengths)
    B = src.shape[1]
    ids = torch.full((B,), SOS_ID, dtype=torch.int64)
    done = torch.zeros(B, dtype=torch.bool)
    score = torch.zeros(B, dtype=torch.float64)
    rows = torch.arange(B)
    out = []
    for t in range(int(limits.max())):
        tilde, h, c = torch_advance(dec, attend, dec["embedding"](ids), h, c)
        z = dec["out"](tilde).double()
        z[:, [PAD_ID, SOS_ID]] = float("-inf")
        logp = torch.log_softmax(z, dim=1)
        ids = torch.where(done, PAD_ID, logp.argmax(dim=1))
        score += torch.where(done, 0.0, logp[rows, ids])
        out.append(ids)
        done |= (ids == EOS_ID) | (t + 1 >= limits)
        if bool(done.all()):
            break
    hyps = []
    for b, row in enumerate(torch.stack(out, dim=1).tolist()):
        n = row.index(EOS_ID) if EOS_ID in row else min(len(row), int(limits[b]))
        hyps.append(row[:n])
    return hyps


# -- the two implementations ---------------------------------------------------------------


class LstmxRunner:
    """lstmx: ``Seq2Seq.train_step`` with CrossEntropyLoss, lstmx Adam; ``greedy_search``."""

    name = "lstmx"

    def __init__(self, model, lr):
        self.model = model
        self.loss = CrossEntropyLoss()
        self.optimizer = Adam(model.parameters(), lr=lr)

    def train_step(self, batch):
        self.model.train()
        self.optimizer.zero_grad()
        value, _ = self.model.train_step(batch, self.loss)
        self.optimizer.step()
        return value

    def decode(self, batch):
        self.model.eval()
        src, lengths = batch.src, batch.src_lengths
        hyps = greedy_search(self.model, src, lengths, decode_limits(lengths), SOS_ID, EOS_ID,
                             PAD_ID)
        return [h.ids for h in hyps]


class TorchRunner:
    """The twin: autograd backward, ``torch.optim.Adam``; greedy under ``inference_mode``.
    Batches are converted to tensors once, outside the timed calls (lstmx gets NumPy arrays)."""

    name = "torch"

    def __init__(self, twin, lr):
        self.twin = twin
        self.optimizer = torch.optim.Adam(twin.parameters(), lr=lr)
        self._tensors = {}

    def tensors(self, batch):
        key = id(batch)
        if key not in self._tensors:
            limits = torch.from_numpy(decode_limits(batch.src_lengths))
            self._tensors[key] = tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (
                batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out)) + (limits,)
        return self._tensors[key]

    def train_step(self, batch):
        src, lengths, tgt_in, tgt_out, _ = self.tensors(batch)
        self.twin.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = torch_loss(torch_forward(self.twin, src, lengths, tgt_in), tgt_out)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def decode(self, batch):
        src, lengths, _, _, limits = self.tensors(batch)
        self.twin.eval()
        with torch.inference_mode():
            return torch_greedy(self.twin, src, lengths, limits)


# -- agreement -----------------------------------------------------------------------------


def check_agreement(model, twin, batch):
    """Loss, gradients and greedy tokens of both (identical weights) on one batch."""
    model.train()
    model.zero_grad()
    loss_fn = CrossEntropyLoss()
    loss_lstmx, _ = model.train_step(batch, loss_fn)
    t = TorchRunner(twin, 0.0).tensors(batch)
    twin.train()
    twin.zero_grad(set_to_none=True)
    loss_torch = torch_loss(torch_forward(twin, *t[:3]), t[3])
    loss_torch.backward()
    grads = dict(twin.named_parameters())
    worst, worst_rel, worst_name = 0.0, -1.0, None
    for name, p in model.named_parameters():
        g = grads[name].grad
        g = np.zeros_like(p.grad) if g is None else g.numpy()
        d = float(np.max(np.abs(p.grad.astype(np.float64) - g)))
        rel = d / max(float(np.max(np.abs(g))), 1e-30)  # against this parameter's largest
        worst = max(worst, d)
        if rel > worst_rel:
            worst_rel, worst_name = rel, name
    model.zero_grad()
    twin.zero_grad(set_to_none=True)
    a = LstmxRunner(model, 0.0).decode(batch)
    b = TorchRunner(twin, 0.0).decode(batch)
    same = sum(x == y for x, y in zip(a, b))
    loss_torch = loss_torch.item()
    return {"loss_lstmx": loss_lstmx, "loss_torch": loss_torch,
            "loss_abs_diff": abs(loss_lstmx - loss_torch), "grad_max_abs_diff": worst,
            "grad_max_rel_diff": worst_rel, "grad_max_rel_diff_param": worst_name,
            "greedy_same_rows": same, "greedy_rows": len(a),
            "greedy_steps_lstmx": max(map(len, a)), "greedy_steps_torch": max(map(len, b))}


# -- timing --------------------------------------------------------------------------------


def interleaved(runners, batches, work, amount, rounds, warmup):
    """Per runner, ``amount(batch) / seconds`` of each timed ``work(runner, batch)`` call
    (``lstmx.bench.interleaved_times``: ``warmup`` untimed calls, then ``rounds`` rounds in
    a rotating order). Each runner walks the batches in the same order, so round r gives
    every runner the same batch."""
    def walk(runner):
        i = iter(range(10**9))
        return lambda: work(runner, batches[next(i) % len(batches)])
    times = interleaved_times({r.name: walk(r) for r in runners}, rounds, warmup)
    return {name: [amount(batches[(warmup + r) % len(batches)]) / t for r, t in enumerate(ts)]
            for name, ts in times.items()}


def summary(rates):
    return {"median": statistics.median(rates), "min": min(rates), "max": max(rates),
            "n": len(rates)}


# -- command line --------------------------------------------------------------------------


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64, help="sentences per batch (default 64)")
    p.add_argument("--hidden", type=int, default=128,
                   help="encoder hidden size per direction; the decoder is 2x (default 128)")
    p.add_argument("--embedding", type=int, default=128, help="embedding size (default 128)")
    p.add_argument("--vocab", type=int, default=2000,
                   help="source and target vocabulary size (default 2000)")
    p.add_argument("--lengths", type=int, nargs=2, default=(10, 20), metavar=("MIN", "MAX"),
                   help="source and target lengths drawn in [MIN, MAX] (default 10 20)")
    p.add_argument("--steps", type=int, default=None,
                   help="timed training steps and decoded batches per impl (default 20, "
                        "--quick 3)")
    p.add_argument("--warmup", type=int, default=None,
                   help="untimed calls per impl first (default 3, --quick 1)")
    p.add_argument("--batches", type=int, default=4, help="distinct random batches cycled (4)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for lstmx and torch (default lstmx.get_num_threads())")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--seed", type=int, default=0, help="weights and batches (default 0)")
    p.add_argument("--no-torch", action="store_true", help="lstmx only")
    p.add_argument("--quick", action="store_true", help="smoke test: 3 steps, 1 warm-up")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    args.steps = args.steps if args.steps is not None else (3 if args.quick else 20)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    for name in ("batch", "hidden", "embedding", "steps", "batches"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.warmup < 0:
        p.error(f"--warmup must be at least 0, got {args.warmup}")
    if args.vocab <= SPECIALS:
        p.error(f"--vocab must exceed the {SPECIALS} special tokens, got {args.vocab}")
    if not 2 <= args.lengths[0] <= args.lengths[1]:
        p.error(f"--lengths needs 2 <= MIN <= MAX, got {args.lengths[0]} {args.lengths[1]}")
    if args.threads is not None and args.threads < 1:
        p.error(f"--threads must be at least 1, got {args.threads}")
    return args


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    threads = args.threads or lstmx.get_num_threads()
    with_torch = torch is not None and not args.no_torch
    if torch is None and not args.no_torch:
        print("note: torch is not installed; running lstmx only")
    lstmx.set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    numpy_threads = set_numpy_blas_threads(1)
    info = machine_info(threads, numpy_threads)

    model = Seq2Seq(args.vocab, args.vocab, args.embedding, args.hidden,
                    attention_type="bahdanau", cell="lstm", num_layers=1,
                    bidirectional_encoder=True, seed=args.seed, dtype=np.float32)
    batches = random_batches(args.batches, args.batch, args.vocab, args.vocab,
                             *args.lengths, args.seed)
    runners = [LstmxRunner(model, args.lr)]
    check = None
    if with_torch:
        torch.manual_seed(args.seed)
        twin = torch_twin(model)
        check = check_agreement(model, twin, batches[0])
        runners.append(TorchRunner(twin, args.lr))

    print(f"# {info['cpu_model']}, {info['os_cpu_count']} cores ({info['cpus_available']} "
          f"available), threads {threads} (lstmx {info['lstmx_threads']}, torch "
          f"{info.get('torch_threads', '-')}, NumPy BLAS {numpy_threads or 'not set'}), "
          f"load {info['load_average_at_start']}")
    print(f"# lstmx {info['lstmx_version']} (git {info['lstmx_git']}), numpy "
          f"{info['numpy_version']}, torch {info.get('torch_version', 'not used')}, python "
          f"{info['python']}; OpenMP: {', '.join(info['openmp_runtimes_loaded']) or 'none'}")
    lo, hi = args.lengths
    print(f"# Bahdanau seq2seq, 1-layer bi-LSTM encoder, float32: batch {args.batch}, vocab "
          f"{args.vocab}/{args.vocab}, embedding {args.embedding}, hidden {args.hidden} "
          f"(decoder {2 * args.hidden}), lengths {lo}-{hi}; {args.batches} random batches; "
          f"{args.steps} timed calls per impl after {args.warmup} warm-up, interleaved; "
          f"medians (min-max)")
    if check is not None:
        print(f"# check on one batch, same weights: loss lstmx {check['loss_lstmx']:.6f} torch "
              f"{check['loss_torch']:.6f} |Δ| {check['loss_abs_diff']:.2e}; gradients: max "
              f"|Δ| {check['grad_max_abs_diff']:.2e}, worst relative to the parameter's "
              f"largest {check['grad_max_rel_diff']:.2e} ({check['grad_max_rel_diff_param']}); "
              f"greedy tokens identical in "
              f"{check['greedy_same_rows']}/{check['greedy_rows']} "
              f"rows ({check['greedy_steps_lstmx']}/{check['greedy_steps_torch']} tokens max)")

    # decode first: both still hold identical weights, so they decode the same tokens
    decode = interleaved(runners, batches, lambda r, b: r.decode(b), lambda b: b.src.shape[1],
                         args.steps, args.warmup)
    train = interleaved(runners, batches, lambda r, b: r.train_step(b),
                        lambda b: b.num_tokens, args.steps, args.warmup)
    rows = [{"impl": r.name, "train_tokens_per_s": summary(train[r.name]),
             "decode_sentences_per_s": summary(decode[r.name])} for r in runners]

    def cell(s):
        return f"{s['median']:10.0f} ({s['min']:.0f}-{s['max']:.0f})"

    print(f"{'impl':12} {'train tokens/s':>26} {'decode sentences/s':>26}")
    for row in rows:
        print(f"{row['impl']:12} {cell(row['train_tokens_per_s']):>26} "
              f"{cell(row['decode_sentences_per_s']):>26}")
    ratios = None
    if with_torch:
        ratios = {key: rows[0][key]["median"] / rows[1][key]["median"]
                  for key in ("train_tokens_per_s", "decode_sentences_per_s")}
        print(f"{'lstmx/torch':12} {ratios['train_tokens_per_s']:26.2f} "
              f"{ratios['decode_sentences_per_s']:26.2f}")
    elapsed = time.perf_counter() - start
    print(f"# ratio > 1: lstmx faster; wall time {elapsed:.0f} s, load at end "
          f"{[round(v, 2) for v in os.getloadavg()]}")

    if args.json:
        info["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        settings.update(threads=threads, torch=with_torch, lengths=list(args.lengths))
        result = {"machine": info, "settings": settings, "check": check, "rows": rows,
                  "lstmx_over_torch": ratios, "wall_time_s": elapsed}
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
