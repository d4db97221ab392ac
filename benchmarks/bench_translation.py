"""Translation quality at equal training time: lstmx against its PyTorch twin.

    python benchmarks/bench_translation.py                 # 10 minutes of training each
    python benchmarks/bench_translation.py --minutes 3     # shorter
    python benchmarks/bench_translation.py --minutes 10 --json /tmp/translation.json

Both sides get the same things:
- the shipped Tatoeba corpus and its splits (``lstmx.data.tatoeba_en_fr``);
- the same subword vocabularies (sentencepiece, ``--vocab-size`` pieces a side);
- the same architecture, ``bench_seq2seq.py``'s Bahdanau model and twin, with the same initial
  weights;
- the same batches in the same order (``Seq2Seq.batches``, reshuffled each epoch by seed);
- Adam with the same learning rate, and no clipping.

Each side trains for ``--minutes`` of wall-clock time, one after the other in one process, and
on ``--threads`` threads (default: lstmx's automatic policy; torch keeps its own default).
Then both decode the held-out test split greedily. BLEU is computed on the detokenized text
(13a, as sacreBLEU). The program prints the steps, tokens/s and BLEU of each side. It is a
benchmark, not a test: it never fails on a low score.
"""

import argparse
import sys
import time
from pathlib import Path

# _common first: NumPy's thread timeout, lstmx before torch (see there)
from _common import lstmx, machine_info, set_numpy_blas_threads, torch, write_json
import numpy as np  # noqa: I001
import bench_seq2seq as s2s

from lstmx.arguments import positive_float, positive_int
from lstmx.data.batching import pad_batch
from lstmx.data.subwords import SubwordTokenizer
from lstmx.data.tatoeba_en_fr import tatoeba_en_fr
from lstmx.data.vocab import EOS_ID, PAD_ID, SOS_ID
from lstmx.metrics import corpus_bleu
from lstmx.seq2seq import Seq2Seq, greedy_search


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--minutes", type=positive_float, default=10.0, help="training time per side")
    p.add_argument("--vocab-size", type=positive_int, default=3000, help="subword pieces a side")
    p.add_argument("--hidden", type=positive_int, default=128, help="encoder hidden size")
    p.add_argument("--embedding", type=positive_int, default=128, help="embedding size")
    p.add_argument("--batch", type=positive_int, default=128, help="pairs per batch")
    p.add_argument("--lr", type=positive_float, default=3e-3, help="Adam learning rate")
    p.add_argument("--threads", type=positive_int, default=None, help="threads of each side")
    p.add_argument("--seed", type=int, default=0, help="split, weights and batch order")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    return p.parse_args(argv)


def train_for(step, batches_of_epoch, seconds):
    """Call ``step(batch)`` over the epochs' batches until ``seconds`` have passed; returns
    (steps, target tokens, seconds, epochs started)."""
    steps = tokens = 0
    start = time.perf_counter()
    epoch = 0
    while True:
        for batch in batches_of_epoch(epoch):
            step(batch)
            steps += 1
            tokens += batch.num_tokens
            if time.perf_counter() - start >= seconds:
                return steps, tokens, time.perf_counter() - start, epoch + 1
        epoch += 1


def torch_step(runner):
    """A training step of the twin on a batch converted to tensors at each call."""
    def step(batch):
        src, lengths, tgt_in, tgt_out = (torch.from_numpy(np.ascontiguousarray(a)) for a in (
            batch.src, batch.src_lengths, batch.tgt_in, batch.tgt_out))
        runner.twin.train()
        runner.optimizer.zero_grad(set_to_none=True)
        loss = s2s.torch_loss(s2s.torch_forward(runner.twin, src, lengths, tgt_in), tgt_out)
        loss.backward()
        runner.optimizer.step()
    return step


def decode_all(decode, model, sources, batch=64):
    """Greedy translations of ``sources`` (strings), detokenized, in order."""
    out = []
    for i in range(0, len(sources), batch):
        ids = [model.source_ids(s) for s in sources[i:i + batch]]
        src, lengths = pad_batch(ids, PAD_ID)
        for row in decode(src, lengths):
            tokens = model.tgt_vocab.decode(row)
            out.append(model.tgt_tokenizer.detokenize(tokens))
    return out


def main(argv=None):
    args = parse_args(argv)
    if torch is None:
        print("this benchmark compares with PyTorch, which is not installed")
        return 0
    if args.threads:
        lstmx.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    numpy_threads = set_numpy_blas_threads(1)
    info = machine_info(args.threads, numpy_threads)
    train, _, test = tatoeba_en_fr(seed=args.seed)
    src_tok, tgt_tok = (SubwordTokenizer.train([p[side] for p in train], args.vocab_size)
                        for side in (0, 1))
    model = Seq2Seq.from_pairs(train, embedding_dim=args.embedding, hidden_dim=args.hidden,
                               src_tokenizer=src_tok, tgt_tokenizer=tgt_tok,
                               attention_type="bahdanau", seed=args.seed, dtype=np.float32)
    torch.manual_seed(args.seed)
    twin = s2s.torch_twin(model)  # the same initial weights, before lstmx trains
    print(f"# {info['cpu_model']}, {info['os_cpu_count']} cores; lstmx {lstmx.__version__} "
          f"({lstmx.get_num_threads()} threads), torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); {len(train)} training pairs, {len(test)} test; "
          f"vocabularies {len(model.src_vocab)}/{len(model.tgt_vocab)}; E={args.embedding} "
          f"H={args.hidden} batch {args.batch}; {args.minutes:g} min of training each")

    def batches_of_epoch(epoch):
        return model.batches(train, args.batch, seed=args.seed + epoch)

    sources, refs = [s for s, _ in test], [t for _, t in test]
    rows = []
    lstmx_runner = s2s.LstmxRunner(model, args.lr)
    torch_runner = s2s.TorchRunner(twin, args.lr)  # its optimizer; batches converted per step
    for name, step, decode in (
            ("lstmx", lstmx_runner.train_step,
             lambda src, lengths: [h.ids for h in greedy_search(
                 model, src, lengths, s2s.decode_limits(lengths), SOS_ID, EOS_ID, PAD_ID)]),
            ("torch", torch_step(torch_runner),
             lambda src, lengths: s2s.torch_greedy(
                 twin, torch.from_numpy(src), torch.from_numpy(lengths),
                 torch.from_numpy(s2s.decode_limits(lengths))))):
        steps, tokens, seconds, epochs = train_for(step, batches_of_epoch, 60.0 * args.minutes)
        model.eval()
        if name == "torch":
            with torch.inference_mode():
                hyps = decode_all(decode, model, sources)
        else:
            hyps = decode_all(decode, model, sources)
        bleu = corpus_bleu(hyps, [refs])
        rows.append({"impl": name, "steps": steps, "epochs_started": epochs,
                     "train_tokens_per_s": tokens / seconds, "bleu": bleu.score,
                     "bleu_line": str(bleu), "signature": bleu.signature})
        print(f"{name:6} {steps:6d} steps ({epochs} epochs started), "
              f"{tokens / seconds:8.0f} tokens/s, test BLEU {bleu.score:5.2f}  ({bleu})",
              flush=True)
    gain = rows[0]["bleu"] - rows[1]["bleu"]
    print(f"# lstmx - torch: {gain:+.2f} BLEU at equal training time (greedy, "
          f"{bleu.signature})")
    if args.json:
        write_json(args.json, {"machine": info, "settings": {k: v for k, v in vars(args).items()
                                                             if k != "json"}, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
