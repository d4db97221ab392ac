"""``lstmx translate``: train a translator and report BLEU, or translate with a checkpoint.

    lstmx translate --demo                                  # built-in English -> French corpus
    lstmx translate --data fra.txt --src-lang en --tgt-lang fr --minutes 20
    lstmx translate --checkpoint translation.npz "How are you?" "I am cold."

Training runs print a progress bar, then the held-out corpus BLEU (with its settings), a few
sample translations next to their references, and write the checkpoint (model, vocabularies,
tokenizers) and an attention heatmap of the first sample.
"""

import os
import sys
import time

from ..arguments import (HelpFormatter, fraction, input_file, nonnegative_int, positive_float,
                         positive_int, thread_count)

EXAMPLES = """examples:
  lstmx translate --demo
  lstmx translate --data fra.txt --src-lang en --tgt-lang fr --minutes 20
  lstmx translate --checkpoint translation.npz "How are you?" "I am cold."
"""

DEMO = {"n_train": 20000, "n_valid": 500, "n_test": 1000, "embedding_dim": 64,
        "hidden_dim": 64, "epochs": 6, "minutes": 2.5}


def add_parser(subparsers):
    """Register ``translate`` on an ``argparse`` subparsers object; returns its parser."""
    p = subparsers.add_parser(
        "translate", help="train a seq2seq translator with attention, or translate with one",
        description="Train an encoder-decoder with attention and report held-out BLEU, or "
                    "translate sentences with a saved model.",
        epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("sentences", nargs="*",
                   help="sentences to translate with --checkpoint (none: read lines from stdin)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--demo", action="store_true",
                      help="train on the built-in English->French corpus (a few minutes)")
    mode.add_argument("--data", metavar="FILE", type=input_file,
                      help="train on a Tatoeba/Anki pair file (English<TAB>translation)")
    mode.add_argument("--checkpoint", metavar="PATH", type=input_file,
                      help="translate with a saved model")
    p.add_argument("--src-lang", default="en", help="source language of --data")
    p.add_argument("--tgt-lang", default="fr", help="target language of --data")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"epochs to train ({DEMO['epochs']} for --demo, else 100); with a "
                        "seed they fix the result")
    p.add_argument("--minutes", type=positive_float, default=None,
                   help=f"upper bound on the training time ({DEMO['minutes']} for --demo, "
                        "else 10); an epoch it cuts short is reported")
    p.add_argument("--max-len", type=positive_int, default=12,
                   help="--data: drop pairs with more tokens on either side")
    p.add_argument("--min-freq", type=positive_int, default=2,
                   help="vocabulary: keep tokens seen at least this often")
    p.add_argument("--max-vocab", type=positive_int, default=None,
                   help="vocabulary: at most this many tokens a side (none: no limit)")
    p.add_argument("--attention", default="bahdanau",
                   choices=["bahdanau", "luong-dot", "luong-general", "luong-concat"],
                   help="attention score")
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru"], help="recurrent cell")
    p.add_argument("--embedding-dim", type=positive_int, default=None,
                   help="embedding size (64 for --demo, else 128)")
    p.add_argument("--hidden-dim", type=positive_int, default=None,
                   help="encoder hidden size per direction (64 for --demo, else 128)")
    p.add_argument("--num-layers", type=positive_int, default=1, help="recurrent layers")
    p.add_argument("--dropout", type=fraction, default=None, help="dropout (0 for --demo, else 0.2)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="sentence pairs per batch")
    p.add_argument("--lr", type=positive_float, default=3e-3, help="Adam learning rate")
    p.add_argument("--beam-size", type=positive_int, default=5, help="beam width (1: greedy)")
    p.add_argument("--eval-size", type=positive_int, default=2000,
                   help="--data: BLEU on at most this many held-out pairs")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the data split, the weights and the batch order")
    p.add_argument("--threads", type=thread_count, default=None,
                   help="kernel threads (none: lstmx's automatic policy)")
    p.add_argument("--save", metavar="PATH", default="translation.npz",
                   help="where training writes the checkpoint")
    p.add_argument("--attention-png", metavar="PATH", default="attention.png",
                   help="where training writes a heatmap")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args):
    """Run the command described by ``args`` (from ``add_parser``); returns an exit code.
    Raises ValueError/OSError for bad input files (``lstmx.cli`` reports them)."""
    if args.sentences and not args.checkpoint:
        args.parser.error("sentences are translated with --checkpoint PATH")
    if args.threads is not None:
        from .. import set_num_threads
        set_num_threads(args.threads)
    return _translate(args) if args.checkpoint else _train(args)


def _translate(args):
    from .model import Seq2Seq
    model = Seq2Seq.load(args.checkpoint)
    sentences = args.sentences or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    for text in model.translate_batch(sentences, beam_size=args.beam_size):
        print(text)
    return 0


def _load_pairs(args):
    """(train, valid, test) string pairs and the tokenizers for them."""
    from ..data.tokenizers import WordTokenizer
    src_tok = WordTokenizer(french_spacing=args.src_lang == "fr")
    tgt_tok = WordTokenizer(french_spacing=args.tgt_lang == "fr")
    if args.demo:
        from ..data.en_fr import builtin_en_fr
        train, valid, test = builtin_en_fr(DEMO["n_train"], DEMO["n_valid"], DEMO["n_test"],
                                           seed=args.seed)
        return train, valid, test, src_tok, tgt_tok
    from ..data.tatoeba import load_tatoeba
    if "en" not in (args.src_lang, args.tgt_lang):
        args.parser.error("Tatoeba/Anki files pair English with one other language; "
                          "one of --src-lang/--tgt-lang must be en")
    reverse = args.src_lang != "en"
    train, valid, test = load_tatoeba(args.data, max_len=args.max_len, seed=args.seed,
                                      reverse=reverse)
    valid, test = valid[:args.eval_size], test[:args.eval_size]
    if not (train and valid and test):
        raise ValueError(f"{args.data}: {len(train)} training, {len(valid)} validation and "
                         f"{len(test)} test pairs after filtering with --max-len "
                         f"{args.max_len}; every split needs at least one")
    return train, valid, test, src_tok, tgt_tok


def _train(args):
    import numpy as np

    from ..metrics import corpus_bleu
    from .model import Seq2Seq

    start = time.perf_counter()
    demo = bool(args.demo)
    minutes = args.minutes if args.minutes is not None else (DEMO["minutes"] if demo else 10.0)
    epochs = args.epochs if args.epochs is not None else (DEMO["epochs"] if demo else 100)
    dim = 64 if demo else 128
    train, valid, test, src_tok, tgt_tok = _load_pairs(args)
    model = Seq2Seq.from_pairs(
        train, embedding_dim=args.embedding_dim or dim, hidden_dim=args.hidden_dim or dim,
        src_tokenizer=src_tok, tgt_tokenizer=tgt_tok, min_freq=args.min_freq,
        max_vocab=args.max_vocab,
        attention_type=args.attention, cell=args.cell, num_layers=args.num_layers,
        dropout=args.dropout if args.dropout is not None else (0.0 if demo else 0.2),
        seed=args.seed)
    n_params = sum(p.data.size for p in model.parameters())
    print(f"{len(train)} training pairs, {len(valid)} validation, {len(test)} test; "
          f"vocabularies {len(model.src_vocab)} ({args.src_lang}) and {len(model.tgt_vocab)} "
          f"({args.tgt_lang}); {model!r}, {n_params:,} parameters")
    print(f"training: {epochs} epochs, stopping early after {minutes:g} minutes")
    try:
        history = model.fit(train, valid, epochs=epochs, batch_size=args.batch_size,
                            lr=args.lr, max_seconds=60.0 * minutes,
                            progress=not args.no_progress, seed=args.seed)
    except KeyboardInterrupt:
        model.eval()
        path = model.save(args.save)
        print(f"\ninterrupted: saved the model as trained so far to {path}; translate with "
              f"`lstmx translate --checkpoint {path}`, or run the same command again to "
              "train from the start", file=sys.stderr)
        return 130
    _report_training(history, epochs)
    trained = time.perf_counter()
    sources, references = [s for s, _ in test], [t for _, t in test]
    hypotheses = model.translate_batch(sources, beam_size=args.beam_size)
    bleu = corpus_bleu(hypotheses, [references])
    print(f"\ntest BLEU = {bleu.score:.2f} on {len(test)} held-out pairs, beam size "
          f"{args.beam_size}\n  {bleu}\n  {bleu.signature}")
    print(f"data and training {trained - start:.0f} s, translating {time.perf_counter() - trained:.1f} s")
    rng = np.random.default_rng(args.seed)
    for i in sorted(rng.choice(len(test), size=min(5, len(test)), replace=False)):
        print(f"\n  source:    {sources[i]}\n  reference: {references[i]}\n"
              f"  model:     {hypotheses[i]}")
    path = model.save(args.save)
    print(f"\nsaved the model and its vocabularies to {path}")
    _heatmap(model, sources[0], args.attention_png, args.beam_size)
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


def _report_training(history, epochs):
    """Which epochs ran, whether the time limit cut one short, and the epoch kept."""
    done = len(history)
    cut = bool(history and history[-1].get("cut"))
    if cut:
        print(f"the time limit cut epoch {done} short ({done - 1} of {epochs} epochs complete):"
              " the result depends on the machine's speed; give more --minutes to reproduce it")
    elif done < epochs:
        print(f"stopped after {done} of {epochs} epochs (time limit or no validation progress)")
    best = min(history, key=lambda h: h["val_loss"])
    print(f"kept the parameters of epoch {best['epoch']} (lowest validation loss "
          f"{best['val_loss']:.4f})")


def _heatmap(model, sentence, path, beam_size):
    from ..viz.attention import plot_attention
    t = model.translate(sentence, beam_size=beam_size, return_attention=True)
    try:
        plot_attention(t.source_tokens, t.tokens, t.attention, path,
                       title=f"{sentence}\n{t.text}")
    except ImportError as e:
        print(f"no attention heatmap: {e}")
        return
    print(f"attention heatmap of {sentence!r} -> {t.text!r} written to {os.path.abspath(path)}")
