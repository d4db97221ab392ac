"""Character-level text generation: train an LSTM on a text for a few minutes, then write.

The model reads one character at a time and predicts the next (embedding -> LSTM/GRU/RNN
stack -> linear). Training is truncated backpropagation through time: the text is cut into
``--batch-size`` streams read side by side in windows of ``--seq-len`` characters; each
window starts from the state the previous one ended in, and gradients stop at the window's
start. The score is bits per character on the held-out end of the text (log2 of the
vocabulary size for a uniform guess; about 2 for a good compressor on English).

    python examples/char_generation.py                      # stdlib docstrings, no download
    python examples/char_generation.py --text tinyshakespeare.txt --minutes 5 --layers 2
    python examples/char_generation.py --text dinos.txt --hidden 128 --prime $'\\n'
    python examples/char_generation.py --gates gates.png    # gate activations while reading

(the same as ``lstmx generate``, written out as a script)
"""

import argparse
import math
import time

import lstmx
from lstmx.charlm import (CharLM, CharVocab, sample, split_ids, stdlib_docstrings, train_for,
                          uniform_bpc)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--text", help="a UTF-8 text file (default: Python's own docstrings)")
    ap.add_argument("--minutes", type=float, default=2.0)
    ap.add_argument("--cell", choices=["lstm", "gru", "rnn"], default="lstm")
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--prime", default="", help="text the samples start from")
    ap.add_argument("--length", type=int, default=400)
    ap.add_argument("--save", help="checkpoint path (lstmx generate --checkpoint reads it)")
    ap.add_argument("--gates", help="write a heatmap of the first layer's gates (PNG)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    # 1. the text, its characters, and a held-out tail for validation
    if args.text:
        with open(args.text, encoding="utf-8") as f:
            text = f.read()
    else:
        text = stdlib_docstrings()
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text), val_fraction=0.05)
    print(f"{len(text):,} characters, {len(vocab.chars)} distinct; a uniform guess scores "
          f"{uniform_bpc(len(vocab)):.2f} bits/char; kernel threads: {lstmx.get_num_threads()}")

    # 2. the model and the time-limited training (Trainer: Adam, clipping, progress bar)
    model = CharLM(vocab, cell=args.cell, embed_dim=args.embed, hidden_size=args.hidden,
                   num_layers=args.layers, seed=args.seed)
    print(model)
    start = time.perf_counter()
    trainer = train_for(model, train_ids, val_ids, seconds=60 * args.minutes,
                        batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
                        checkpoint_path=args.save, seed=args.seed)
    for record in trainer.history:
        train_bpc = record["train_loss"] / math.log(2)  # the loss is in nats
        print(f"epoch {record['epoch']:3d}  train {train_bpc:.3f} bits/char  validation "
              f"{record['metrics']['bpc']:.3f} bits/char  ({record['tokens_per_s']:,.0f} chars/s)")
    best = trainer.early_stopping.best_epoch
    print(f"{time.perf_counter() - start:.0f} s of training"
          + (", stopped early" if trainer.stopped_early else "")
          + f"; the model keeps the parameters of epoch {best} "
          f"({trainer.history[best - 1]['metrics']['bpc']:.3f} bits/char)")

    # 3. samples: single-step native cells with the trained weights
    model.eval()
    for temperature in (0.0, 0.5, 0.8, 1.0):
        print(f"\n--- temperature {temperature} ---")
        print(sample(model, args.length, prime=args.prime, temperature=temperature,
                     seed=args.seed))
    print("\n--- temperature 1.0, top-k 5 ---")
    print(sample(model, args.length, prime=args.prime, temperature=1.0, top_k=5,
                 seed=args.seed))

    # 4. what the first layer's gates do while it reads a piece of held-out text
    if args.gates:
        from lstmx.viz import plot_gates
        piece = vocab.decode(val_ids[:80])
        plot_gates(model.rnn, model.embed(vocab.encode(piece)), args.gates,
                   labels=list(piece), max_units=48, title="first layer reading held-out text")
        print(f"\ngate activations: {args.gates}")


if __name__ == "__main__":
    main()
