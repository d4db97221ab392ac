"""``lstmx generate``: train a character language model and sample from it.

    lstmx generate --demo                            # stdlib docstrings, 1 minute, no download
    lstmx generate --text input.txt --minutes 5 --save char.npz
    lstmx generate --checkpoint char.npz --prime "ROMEO:" --length 500 --temperature 0.7
    lstmx generate --checkpoint char.npz --quantize int8 --length 500

Training prints a line per epoch (training loss, validation loss in nats, validation bits per
character) and, at the end, one sample per temperature.

Under ``mpiexec -n N`` training is data-parallel (``lstmx.distributed``; ``--batch-size`` per
rank); rank 0 alone prints, samples and writes the checkpoint.
"""

import math
import os
import sys
import time

from .. import distributed, get_num_threads, metrics, set_num_threads
from ..arguments import (HelpFormatter, command_line, fraction, hidden_alias, input_file,
                         nonnegative_float, nonnegative_int, positive_float, positive_int,
                         quantized, read_utf8_text, thread_count, trainable)
from ..nn.quantized import DTYPES as QUANTIZED_DTYPES
from .corpus import stdlib_docstrings
from .model import CELLS, CharLM
from .sample import sample
from .train import split_ids, train_for, uniform_bpc
from .vocab import CharVocab

EXAMPLES = """examples:
  lstmx generate --demo
  lstmx generate --text input.txt --epochs 10 --minutes 5 --save char.npz
  lstmx generate --checkpoint char.npz --prime "ROMEO:" --length 500 --temperature 0.7
  lstmx generate --checkpoint char.npz --quantize bfloat16 --length 500
"""


def add_parser(subparsers):
    """Add the ``generate`` sub-command to an ``argparse`` sub-parser set; returns it."""
    p = subparsers.add_parser(
        "generate", help="train a character language model on a text and sample from it",
        description="Train a character language model on a text and sample from it, or "
                    "sample from a saved one. Training prints a line per epoch and, at the "
                    "end, one sample per temperature.",
        epilog=EXAMPLES, formatter_class=HelpFormatter)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", metavar="FILE", type=input_file,
                        help="train on this UTF-8 text file")
    source.add_argument("--demo", action="store_true",
                        help="train on the docstrings of Python's standard library")
    source.add_argument("--checkpoint", metavar="PATH", type=input_file,
                        help="sample from a model saved with --save (no training)")
    train = p.add_argument_group("training")
    train.add_argument("--epochs", type=positive_int, default=None,
                       help="epochs to train (none: until --minutes or no validation progress);"
                            " with a seed they fix the result")
    train.add_argument("--minutes", type=positive_float, default=1.0,
                       help="upper bound on the training time")
    train.add_argument("--cell", choices=sorted(CELLS), default="lstm", help="recurrent cell")
    train.add_argument("--hidden-dim", type=positive_int, default=256, help="hidden size")
    train.add_argument("--num-layers", type=positive_int, default=1, help="recurrent layers")
    train.add_argument("--embedding-dim", type=positive_int, default=64, help="embedding size")
    hidden_alias(train, "--hidden", "--hidden-dim", type=positive_int)
    hidden_alias(train, "--layers", "--num-layers", type=positive_int)
    hidden_alias(train, "--embed", "--embedding-dim", type=positive_int)
    train.add_argument("--dropout", type=fraction, default=0.0,
                       help="dropout between recurrent layers")
    train.add_argument("--seq-len", type=positive_int, default=64, help="BPTT window")
    train.add_argument("--batch-size", type=positive_int, default=32, help="windows per batch")
    train.add_argument("--lr", type=positive_float, default=3e-3, help="Adam learning rate")
    train.add_argument("--clip", type=positive_float, default=5.0, help="gradient-norm clip")
    train.add_argument("--patience", type=positive_int, default=3,
                       help="stop after this many epochs without validation progress")
    train.add_argument("--val-fraction", type=fraction, default=0.05,
                       help="end of the text held out for validation")
    train.add_argument("--max-chars", type=positive_int, default=None,
                       help="read at most this many characters of the text (none: all)")
    train.add_argument("--save", metavar="PATH", default=None,
                       help="write a checkpoint after every epoch (none: don't)")
    train.add_argument("--resume", metavar="PATH", type=input_file, default=None,
                       help="continue the training saved there with --save (give the same "
                            "text, seed and --epochs)")
    gen = p.add_argument_group("sampling")
    gen.add_argument("--prime", default="", help="text the samples start from")
    gen.add_argument("--length", type=positive_int, default=300, help="characters per sample")
    gen.add_argument("--temperature", type=nonnegative_float, nargs="+", default=None,
                     help="one sample per temperature, 0 greedy (none: 0.5 0.8 1.0 after "
                          "training, 0.8 from a checkpoint)")
    gen.add_argument("--top-k", type=positive_int, default=None,
                     help="sample among the k likeliest characters (none: all)")
    gen.add_argument("--quantize", choices=QUANTIZED_DTYPES, default=None,
                     help="--checkpoint: sample with int8 or bfloat16 weights (faster, "
                          "slightly less exact; none: the checkpoint's own)")
    gen.add_argument("--seed", type=nonnegative_int, default=0,
                     help="seed of the model and the samples")
    p.add_argument("--threads", type=thread_count, default=None,
                   help="kernel threads (none: lstmx's automatic policy)")
    return p


def _read_text(args):
    if args.demo:
        text, name = stdlib_docstrings(), "Python standard-library docstrings"
    else:
        text, name = read_utf8_text(args.text), args.text
    if args.max_chars is not None:
        text = text[:args.max_chars]
    if len(text) < 200:
        args.parser.error(f"{name} has {len(text)} characters; a character model needs at "
                          "least 200")
    return text, name


def _train(args):
    text, name = _read_text(args)
    if args.resume:  # the model (its characters included) as the interrupted run saved it
        model = trainable(_load_model(args, args.resume), args.resume, args.parser)
        vocab = model.vocab
    else:
        vocab = CharVocab.from_text(text)
        model = CharLM(vocab, cell=args.cell, embed_dim=args.embedding_dim,
                       hidden_size=args.hidden_dim, num_layers=args.num_layers,
                       dropout=args.dropout, seed=args.seed)
    train_ids, val_ids = split_ids(vocab.encode(text), args.val_fraction)
    lead = distributed.rank() == 0   # under MPI rank 0 alone reports
    say = print if lead else (lambda *a, **k: None)
    ranks = distributed.size()
    say(f"{name}: {len(text):,} characters, {len(vocab.chars)} distinct "
          f"(uniform guess: {uniform_bpc(len(vocab)):.2f} bits/char); {model}; "
          f"kernel threads: {get_num_threads()}"
          + (f" per rank on {ranks} MPI ranks" if ranks > 1 else "") + "; training "
          + (f"{args.epochs} epochs, at most " if args.epochs else "for ")
          + f"{args.minutes:g} min", flush=True)
    start = time.perf_counter()
    try:
        trainer = train_for(model, train_ids, val_ids, args.minutes * 60.0,
                            batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
                            clip_norm=args.clip, patience=args.patience,
                            checkpoint_path=args.save, seed=args.seed, epochs=args.epochs,
                            resume=args.resume)
    except KeyboardInterrupt:
        again = command_line(args.argv, "--resume", "--resume", str(args.save))
        where = (f"the checkpoint of the last complete epoch is {args.save}; continue with "
                 f"`{again}`, or sample from it with `lstmx generate --checkpoint "
                 f"{args.save}`" if args.save and os.path.exists(args.save) else
                 "nothing was saved (give --save PATH to keep a checkpoint of every epoch)")
        if lead:
            print(f"\ninterrupted: {where}", file=sys.stderr)
        raise SystemExit(130) from None
    best = trainer.early_stopping.best_epoch
    bpc = trainer.history[best - 1]["metrics"]["bpc"]
    cut = trainer.history[-1].get("cut", False)
    say(f"{trainer.epoch} epochs in {time.perf_counter() - start:.0f} s"
          + (" (stopped early: no progress on the validation text)" if trainer.stopped_early
             else "")
          + (f" (the time limit cut epoch {trainer.epoch} short: the result depends on the "
             "machine's speed)" if cut else "")
          + f"; the model of epoch {best}: validation {bpc:.3f} bits/char (perplexity "
          f"{metrics.perplexity(bpc * math.log(2.0)):.2f})"
          + (f"; checkpoint {args.save}" if args.save else ""), flush=True)
    return model, [0.5, 0.8, 1.0]


def _load_model(args, path):
    from ..train.checkpoint import load_model
    model = load_model(path)
    if not isinstance(model, CharLM):
        args.parser.error(f"{path} holds a {type(model).__name__}, not a character model "
                          "(CharLM)")
    return model


def _load(args):
    return quantized(_load_model(args, args.checkpoint).eval(), args.quantize), [0.8]


def run(args):
    """Run ``lstmx generate`` with parsed ``args``; prints samples, returns 0. Raises
    ValueError/OSError for bad input files (``lstmx.cli`` reports them)."""
    if args.quantize and not args.checkpoint:
        args.parser.error("--quantize is for sampling with --checkpoint PATH (training runs "
                          "in float32; quantize the model it saves)")
    if args.threads is not None:
        set_num_threads(args.threads)
    model, temperatures = _load(args) if args.checkpoint else _train(args)
    if distributed.rank() != 0:  # under MPI the other ranks only helped to train
        return 0
    for temperature in args.temperature or temperatures:
        text = sample(model, args.length, prime=args.prime, temperature=temperature,
                      top_k=args.top_k, seed=args.seed)
        print(f"\n--- temperature {temperature:g}"
              + (f", top-k {args.top_k}" if args.top_k else "") + " ---")
        print(text, flush=True)
    return 0


def main(argv=None):
    """Entry point for ``python -m lstmx.charlm.command`` (``lstmx generate``'s arguments);
    ``argv`` given, it starts with the command's name, as ``lstmx.cli.main``'s."""
    from ..cli import main as cli_main
    return cli_main(["generate", *sys.argv[1:]] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
