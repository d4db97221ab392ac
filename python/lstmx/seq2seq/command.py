"""``lstmx translate``: train a translator and report BLEU, or translate with a checkpoint.

    lstmx translate --demo                                  # built-in English -> French corpus
    lstmx translate --data fra.txt --src-lang en --tgt-lang fr --minutes 20
    lstmx translate --checkpoint translation.npz "How are you?" "I am cold."
    lstmx translate --checkpoint translation.npz --quantize int8 "How are you?"

Training runs print a progress bar, then the held-out corpus BLEU (with its settings), a few
sample translations next to their references, and write the checkpoint (model, vocabularies,
tokenizers) and an attention heatmap of the first sample.

Under ``mpiexec -n N`` training is data-parallel (``lstmx.distributed``; ``--batch-size`` per
rank); rank 0 alone prints, evaluates and writes files.
"""

import os
import sys
import time

from ..arguments import (HelpFormatter, command_line, fraction, input_file, nonnegative_int,
                         positive_float, positive_int, quantized, thread_count, trainable)
from ..nn.quantized import DTYPES as QUANTIZED_DTYPES

EXAMPLES = """examples:
  lstmx translate --demo
  lstmx translate --data fra.txt --src-lang en --tgt-lang fr --epochs 10 --minutes 20
  lstmx translate --checkpoint translation.npz "How are you?" "I am cold."
  lstmx translate --checkpoint translation.npz --input english.txt --output french.txt
  lstmx translate --checkpoint translation.npz --quantize int8 --input english.txt
"""

# The demo: the shipped Tatoeba subset, subword vocabularies, a fixed number of epochs. On 2
# cores it trains in about 4 minutes and scores about 32 BLEU on its held-out test split.
DEMO = {"embedding_dim": 128, "hidden_dim": 128, "epochs": 2, "minutes": 5.0,
        "batch_size": 128, "vocab_size": 3000, "n_valid": 1000, "n_test": 1000}

# Everyday sentences the demo translates at the end, next to samples of its test split.
EVERYDAY = ["Good morning.", "How are you?", "I am cold.", "Where is the train station?",
            "Thank you very much.", "I don't understand.", "Can you help me?"]


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
                      help="train on the shipped English->French Tatoeba corpus (about 5 "
                           "minutes)")
    mode.add_argument("--data", metavar="FILE", type=input_file,
                      help="train on a Tatoeba/Anki pair file (English<TAB>translation)")
    mode.add_argument("--checkpoint", metavar="PATH", type=input_file,
                      help="translate with a saved model")
    p.add_argument("--src-lang", default="en", help="source language of --data")
    p.add_argument("--tgt-lang", default="fr", help="target language of --data")
    p.add_argument("--input", metavar="FILE", type=input_file, default=None,
                   help="--checkpoint: translate every line of FILE (none: the sentences "
                        "given, else standard input)")
    p.add_argument("--output", metavar="FILE", default=None,
                   help="--checkpoint: write the translations there (none: standard output)")
    p.add_argument("--quantize", choices=QUANTIZED_DTYPES, default=None,
                   help="--checkpoint: translate with int8 or bfloat16 weights (faster, "
                        "slightly less exact; none: the checkpoint's own)")
    p.add_argument("--epochs", type=positive_int, default=None,
                   help=f"epochs to train ({DEMO['epochs']} for --demo, else 20); with a "
                        "seed they fix the result")
    p.add_argument("--minutes", type=positive_float, default=None,
                   help=f"upper bound on the training time ({DEMO['minutes']:g} for --demo, "
                        "else 10); an epoch it cuts short is reported")
    p.add_argument("--max-len", type=positive_int, default=14,
                   help="--data: drop pairs with more words on either side")
    p.add_argument("--vocab-size", type=positive_int, default=DEMO["vocab_size"],
                   help="subword pieces per language, learnt from the training text "
                        "(sentencepiece unigram, byte fallback)")
    p.add_argument("--attention", default="bahdanau",
                   choices=["bahdanau", "luong-dot", "luong-general", "luong-concat", "none"],
                   help="attention score; none: the plain encoder-decoder (Sutskever et al.)")
    p.add_argument("--cell", default="lstm", choices=["lstm", "gru"], help="recurrent cell")
    p.add_argument("--embedding-dim", type=positive_int, default=DEMO["embedding_dim"],
                   help="embedding size")
    p.add_argument("--hidden-dim", type=positive_int, default=DEMO["hidden_dim"],
                   help="encoder hidden size per direction (the decoder's is twice that)")
    p.add_argument("--num-layers", type=positive_int, default=1, help="recurrent layers")
    p.add_argument("--dropout", type=fraction, default=None, help="dropout (0 for --demo, else 0.2)")
    p.add_argument("--batch-size", type=positive_int, default=DEMO["batch_size"],
                   help="sentence pairs per batch")
    p.add_argument("--lr", type=positive_float, default=3e-3, help="Adam learning rate")
    p.add_argument("--beam-size", type=positive_int, default=5, help="beam width (1: greedy)")
    p.add_argument("--eval-size", type=positive_int, default=2000,
                   help="--data: BLEU on at most this many held-out pairs")
    p.add_argument("--seed", type=nonnegative_int, default=0,
                   help="seed of the data split, the weights and the batch order")
    p.add_argument("--threads", type=thread_count, default=None,
                   help="kernel threads (none: lstmx's automatic policy)")
    p.add_argument("--save", metavar="PATH", default="translation.npz",
                   help="where training writes the final model; the state of every finished "
                        "epoch goes beside it, to NAME.training.npz (for --resume)")
    p.add_argument("--resume", metavar="PATH", type=input_file, default=None,
                   help="continue the training saved there (give the same data, seed and "
                        "--epochs as the run that wrote it)")
    p.add_argument("--attention-png", metavar="PATH", default="attention.png",
                   help="where training writes a heatmap")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args):
    """Run the command described by ``args`` (from ``add_parser``); returns an exit code.
    Raises ValueError/OSError for bad input files (``lstmx.cli`` reports them)."""
    if args.sentences and not args.checkpoint:
        args.parser.error("sentences are translated with --checkpoint PATH")
    if args.resume and args.checkpoint:
        args.parser.error("--resume continues training (with --demo or --data), not "
                          "--checkpoint")
    if args.quantize and not args.checkpoint:
        args.parser.error("--quantize is for translating with --checkpoint PATH (training "
                          "runs in float32; quantize the model it saves)")
    if args.threads is not None:
        from .. import set_num_threads
        set_num_threads(args.threads)
    return _translate(args) if args.checkpoint else _train(args)


def _translate(args):
    """Translate the sentences given, the lines of --input, or standard input."""
    from tqdm import tqdm

    from ..arguments import read_utf8_text
    from .model import Seq2Seq
    if args.sentences and args.input:
        args.parser.error("give sentences or --input FILE, not both")
    model = quantized(Seq2Seq.load(args.checkpoint), args.quantize)
    if args.sentences:
        sentences = list(args.sentences)
    elif args.input:
        sentences = read_utf8_text(args.input).splitlines()
    else:
        sentences = sys.stdin.read().splitlines()
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout
    chunk = 64
    try:
        with tqdm(total=len(sentences), unit="sentence", disable=len(sentences) <= chunk,
                  file=sys.stderr) as bar:
            for start in range(0, len(sentences), chunk):
                lines = sentences[start:start + chunk]
                # an empty line stays empty: nothing to translate
                texts = [t for t in lines if t.strip()]
                done = iter(model.translate_batch(texts, beam_size=args.beam_size))
                for line in lines:
                    out.write((next(done) if line.strip() else "") + "\n")
                bar.update(len(lines))
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


def _load_pairs(args):
    """(train, valid, test) string pairs."""
    if args.demo:
        from ..data.tatoeba_en_fr import tatoeba_en_fr
        return tatoeba_en_fr(DEMO["n_valid"], DEMO["n_test"], seed=args.seed)
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
    return train, valid, test


def _subword_tokenizers(train, vocab_size):
    """Source and target tokenizers learnt from ``train`` (on rank 0 under MPI, whose
    vocabularies every rank then uses)."""
    from .. import distributed
    from ..data.subwords import SubwordTokenizer

    configs = None
    if distributed.rank() == 0:
        configs = [SubwordTokenizer.train([p[side] for p in train], vocab_size).config()
                   for side in (0, 1)]
    configs = distributed.broadcast_object(configs)
    return tuple(SubwordTokenizer.from_config(c) for c in configs)


def _train(args):
    import numpy as np

    from .. import distributed
    from ..metrics import corpus_bleu
    from .model import Seq2Seq

    # under MPI rank 0 alone reports; the others train and leave
    lead = distributed.rank() == 0
    say = print if lead else (lambda *a, **k: None)
    start = time.perf_counter()
    demo = bool(args.demo)
    minutes = args.minutes if args.minutes is not None else (DEMO["minutes"] if demo else 10.0)
    epochs = args.epochs if args.epochs is not None else (DEMO["epochs"] if demo else 20)
    train, valid, test = _load_pairs(args)
    if args.resume:  # the model (vocabularies included) as the interrupted run saved it
        model = trainable(Seq2Seq.load(args.resume), args.resume, args.parser)
    else:
        src_tok, tgt_tok = _subword_tokenizers(train, args.vocab_size)
        model = Seq2Seq.from_pairs(
            train, embedding_dim=args.embedding_dim, hidden_dim=args.hidden_dim,
            src_tokenizer=src_tok, tgt_tokenizer=tgt_tok,
            attention_type=None if args.attention == "none" else args.attention,
            cell=args.cell, num_layers=args.num_layers,
            dropout=args.dropout if args.dropout is not None else (0.0 if demo else 0.2),
            seed=args.seed)
    n_params = sum(p.data.size for p in model.parameters())
    corpus = "the shipped Tatoeba corpus" if demo else args.data
    say(f"{corpus}: {len(train)} training pairs, {len(valid)} validation, {len(test)} test; "
          f"subword vocabularies {len(model.src_vocab)} ({args.src_lang}) and "
          f"{len(model.tgt_vocab)} ({args.tgt_lang}); {model!r}, {n_params:,} parameters")
    ranks = distributed.size()
    say(f"training: {epochs} epochs, batch {args.batch_size}"
        + (f" per rank on {ranks} MPI ranks" if ranks > 1 else "")
        + f", Adam lr {args.lr:g}, seed {args.seed}; stopping early after {minutes:g} minutes")
    valid = valid[:500]  # the validation loss needs no more
    began = time.time()
    try:
        history = model.fit(train, valid, epochs=epochs, batch_size=args.batch_size,
                            lr=args.lr, max_seconds=60.0 * minutes,
                            progress=not args.no_progress, seed=args.seed,
                            checkpoint_path=_training_checkpoint(args), resume=args.resume)
    except KeyboardInterrupt:
        if lead:
            print(f"\ninterrupted: {_how_to_go_on(args, began, model)}", file=sys.stderr)
        return 130
    if not lead:
        return 0
    _report_training(history, epochs)
    trained = time.perf_counter()
    sources, references = [s for s, _ in test], [t for _, t in test]
    hypotheses = model.translate_batch(sources, beam_size=args.beam_size)
    bleu = corpus_bleu(hypotheses, [references])
    print(f"\ntest BLEU = {bleu.score:.2f} on {len(test)} held-out pairs, beam size "
          f"{args.beam_size}\n  {bleu}\n  {bleu.signature}")
    print(f"data and training {trained - start:.0f} s, translating {time.perf_counter() - trained:.1f} s")
    rng = np.random.default_rng(args.seed)
    print("\nheld-out test sentences:")
    for i in sorted(rng.choice(len(test), size=min(5, len(test)), replace=False)):
        print(f"  source:    {sources[i]}\n  reference: {references[i]}\n"
              f"  model:     {hypotheses[i]}\n")
    if demo:
        print("everyday sentences:")
        for text, out in zip(EVERYDAY, model.translate_batch(EVERYDAY, beam_size=args.beam_size)):
            print(f"  {text:30} -> {out}")
    path = model.save(args.save)
    print(f"\nsaved the model and its vocabularies to {path}; the training state is in "
          f"{_training_checkpoint(args)} (more epochs: --epochs N --resume that file)")
    _heatmap(model, sources[0], args.attention_png, args.beam_size)
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


def _training_checkpoint(args):
    """Where the Trainer writes the state of every finished epoch (model, optimizer, epoch
    count, history): beside --save, which gets the final model."""
    return os.path.splitext(args.save)[0] + ".training.npz"


def _how_to_go_on(args, began, model):
    """What an interrupted training run left, and the command that continues it."""
    path = _training_checkpoint(args)
    if os.path.exists(path) and os.path.getmtime(path) >= began:  # an epoch finished
        command = command_line(args.argv, "--resume", "--resume", path)
        return (f"the state of the last complete epoch is in {path}; continue with "
                f"`{command}`, or translate with `lstmx translate --checkpoint {path}`")
    model.eval()
    path = model.save(args.save)
    return (f"no epoch was complete; saved the model as trained so far to {path} (translate "
            f"with `lstmx translate --checkpoint {path}`); run the same command again to train")


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
    if model.attention_type is None:
        return
    t = model.translate(sentence, beam_size=beam_size, return_attention=True)
    try:
        plot_attention(t.source_tokens, t.tokens, t.attention, path,
                       title=f"{sentence}\n{t.text}")
    except ImportError as e:
        print(f"no attention heatmap: {e}")
        return
    print(f"attention heatmap of {sentence!r} -> {t.text!r} written to {os.path.abspath(path)}")
