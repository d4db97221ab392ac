"""``lstmx translate``: train a translator and report BLEU, or translate with a checkpoint.

    lstmx translate --demo                                  # built-in English -> French corpus
    lstmx translate --data fra.txt --src-lang en --tgt-lang fr --minutes 20
    lstmx translate --checkpoint translation.npz "How are you?" "I am cold."

Training runs print a progress bar, then the held-out corpus BLEU (with its settings), a few
sample translations next to their references, and write the checkpoint (model, vocabularies,
tokenizers) and an attention heatmap of the first sample.
"""

import argparse
import os
import sys
import time

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
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sentences", nargs="*",
                   help="sentences to translate with --checkpoint (none: read lines from stdin)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--demo", action="store_true",
                      help="train on the built-in English->French corpus (a few minutes)")
    mode.add_argument("--data", metavar="FILE",
                      help="train on a Tatoeba/Anki pair file (English<TAB>translation)")
    mode.add_argument("--checkpoint", metavar="PATH", help="translate with a saved model")
    p.add_argument("--src-lang", default="en", help="source language of --data (default en)")
    p.add_argument("--tgt-lang", default="fr", help="target language of --data (default fr)")
    p.add_argument("--minutes", type=float, default=None,
                   help=f"training time budget (default {DEMO['minutes']} for --demo, "
                        "10 for --data)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"at most this many epochs (default {DEMO['epochs']} for --demo, 100)")
    p.add_argument("--max-len", type=int, default=12,
                   help="--data: drop pairs with more tokens on either side (default 12)")
    p.add_argument("--min-freq", type=int, default=2,
                   help="vocabulary: keep tokens seen at least this often (default 2)")
    p.add_argument("--max-vocab", type=int, default=None,
                   help="vocabulary: at most this many tokens a side (default: no limit)")
    p.add_argument("--attention", default="bahdanau",
                   choices=["bahdanau", "luong-dot", "luong-general", "luong-concat"])
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    p.add_argument("--embedding-dim", type=int, default=None, help="default 64 (demo), 128")
    p.add_argument("--hidden-dim", type=int, default=None, help="default 64 (demo), 128")
    p.add_argument("--num-layers", type=int, default=1)
    p.add_argument("--dropout", type=float, default=None, help="default 0 (demo), 0.2")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--beam-size", type=int, default=5)
    p.add_argument("--eval-size", type=int, default=2000,
                   help="--data: BLEU on at most this many held-out pairs (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save", metavar="PATH", default="translation.npz",
                   help="where training writes the checkpoint (default translation.npz)")
    p.add_argument("--attention-png", metavar="PATH", default="attention.png",
                   help="where training writes a heatmap (default attention.png)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args):
    """Run the command described by ``args`` (from ``add_parser``); returns an exit code."""
    if args.sentences and not args.checkpoint:
        print("error: sentences are translated with --checkpoint PATH", file=sys.stderr)
        return 2
    try:
        return _translate(args) if args.checkpoint else _train(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


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
        raise SystemExit("error: Tatoeba/Anki files pair English with one other language; "
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
    epochs = args.epochs or (DEMO["epochs"] if demo else 100)
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
    print(f"training: at most {epochs} epochs or {minutes:g} minutes")
    history = model.fit(train, valid, epochs=epochs, batch_size=args.batch_size, lr=args.lr,
                        max_seconds=60.0 * minutes, progress=not args.no_progress,
                        seed=args.seed)
    best = min(history, key=lambda h: h["val_loss"])
    print(f"kept the parameters of epoch {best['epoch']} (lowest validation loss "
          f"{best['val_loss']:.4f})")
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
