"""``lstmx generate``: train a character language model and sample from it.

    lstmx generate --demo                            # stdlib docstrings, 1 minute, no download
    lstmx generate --text input.txt --minutes 5 --save char.npz
    lstmx generate --checkpoint char.npz --prime "ROMEO:" --length 500 --temperature 0.7

Training prints a line per epoch (training loss, validation loss in nats, validation bits per
character) and, at the end, one sample per temperature.
"""

import argparse
import math
import sys
import time

from .. import get_num_threads, metrics, set_num_threads
from .corpus import stdlib_docstrings
from .model import CELLS, CharLM
from .sample import sample
from .train import split_ids, train_for, uniform_bpc
from .vocab import CharVocab


def add_parser(subparsers):
    """Add the ``generate`` sub-command to an ``argparse`` sub-parser set; returns it."""
    p = subparsers.add_parser(
        "generate", help="train a character language model on a text and sample from it",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", metavar="FILE", help="train on this UTF-8 text file")
    source.add_argument("--demo", action="store_true",
                        help="train on the docstrings of Python's standard library")
    source.add_argument("--checkpoint", metavar="PATH",
                        help="sample from a model saved with --save (no training)")
    train = p.add_argument_group("training")
    train.add_argument("--minutes", type=float, default=1.0, help="training time (default 1)")
    train.add_argument("--cell", choices=sorted(CELLS), default="lstm")
    train.add_argument("--hidden", type=int, default=256, help="hidden size (default 256)")
    train.add_argument("--layers", type=int, default=1, help="recurrent layers (default 1)")
    train.add_argument("--embed", type=int, default=64, help="embedding size (default 64)")
    train.add_argument("--dropout", type=float, default=0.0, help="between recurrent layers")
    train.add_argument("--seq-len", type=int, default=64, help="BPTT window (default 64)")
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    train.add_argument("--clip", type=float, default=5.0, help="gradient-norm clip")
    train.add_argument("--patience", type=int, default=3,
                       help="stop after this many epochs without validation progress")
    train.add_argument("--val-fraction", type=float, default=0.05,
                       help="end of the text held out for validation (default 0.05)")
    train.add_argument("--max-chars", type=int, default=None,
                       help="read at most this many characters of the text")
    train.add_argument("--save", metavar="PATH", help="write a checkpoint after every epoch")
    gen = p.add_argument_group("sampling")
    gen.add_argument("--prime", default="", help="text the samples start from")
    gen.add_argument("--length", type=int, default=300, help="characters per sample")
    gen.add_argument("--temperature", type=float, nargs="+", default=None,
                     help="one sample per temperature (default: 0.5 0.8 1.0 after training, "
                          "0.8 from a checkpoint)")
    gen.add_argument("--top-k", type=int, default=None, help="sample among the k likeliest")
    gen.add_argument("--seed", type=int, default=0, help="seed of the model and the samples")
    p.add_argument("--threads", type=int, default=None, help="kernel threads")
    p.set_defaults(func=run)
    return p


def _read_text(args):
    if args.demo:
        text, name = stdlib_docstrings(), "Python standard-library docstrings"
    else:
        try:
            with open(args.text, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as e:
            raise SystemExit(f"lstmx generate: cannot read --text {args.text}: {e.strerror}")
        name = args.text
    if args.max_chars is not None:
        text = text[:args.max_chars]
    if len(text) < 200:
        raise SystemExit(f"lstmx generate: {name} has {len(text)} characters; "
                         "a character model needs at least 200")
    return text, name


def _train(args):
    text, name = _read_text(args)
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text), args.val_fraction)
    model = CharLM(vocab, cell=args.cell, embed_dim=args.embed, hidden_size=args.hidden,
                   num_layers=args.layers, dropout=args.dropout, seed=args.seed)
    print(f"{name}: {len(text):,} characters, {len(vocab.chars)} distinct "
          f"(uniform guess: {uniform_bpc(len(vocab)):.2f} bits/char); {model}; "
          f"kernel threads: {get_num_threads()}; training for {args.minutes:g} min", flush=True)
    start = time.perf_counter()
    trainer = train_for(model, train_ids, val_ids, args.minutes * 60.0,
                        batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
                        clip_norm=args.clip, patience=args.patience,
                        checkpoint_path=args.save, seed=args.seed)
    best = trainer.early_stopping.best_epoch
    bpc = trainer.history[best - 1]["metrics"]["bpc"]
    print(f"{trainer.epoch} epochs in {time.perf_counter() - start:.0f} s"
          + (" (stopped early: no progress on the validation text)" if trainer.stopped_early
             else "")
          + f"; the model of epoch {best}: validation {bpc:.3f} bits/char (perplexity "
          f"{metrics.perplexity(bpc * math.log(2.0)):.2f})"
          + (f"; checkpoint {args.save}" if args.save else ""), flush=True)
    return model, [0.5, 0.8, 1.0]


def _load(path):
    from ..train.checkpoint import load_model
    try:
        model = load_model(path)
    except (OSError, ValueError) as e:
        raise SystemExit(f"lstmx generate: {e}")
    if not isinstance(model, CharLM):
        raise SystemExit(f"lstmx generate: {path} holds a {type(model).__name__}, "
                         "not a character model (CharLM)")
    return model.eval(), [0.8]


def run(args):
    """Run ``lstmx generate`` with parsed ``args``; prints samples, returns 0."""
    if args.threads is not None:
        set_num_threads(args.threads)
    model, temperatures = _load(args.checkpoint) if args.checkpoint else _train(args)
    for temperature in args.temperature or temperatures:
        text = sample(model, args.length, prime=args.prime, temperature=temperature,
                      top_k=args.top_k, seed=args.seed)
        print(f"\n--- temperature {temperature:g}"
              + (f", top-k {args.top_k}" if args.top_k else "") + " ---")
        print(text, flush=True)
    return 0


def main(argv=None):
    """Entry point for ``python -m lstmx.charlm.command`` (same arguments)."""
    parser = argparse.ArgumentParser(prog="lstmx")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
