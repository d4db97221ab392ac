"""Inference with int8 and bfloat16 weights: a layer, then (optionally) a trained translator.

``lstmx.quantize(model, dtype)`` returns an inference-only copy whose weight products run in
int8 (one scale per weight row, activations quantized per row at every product) or bfloat16
(float32 sums); everything else, the gate math included, stays float32. This script shows
what that changes for an LSTM layer: the output difference from float32 and the time per
forward, and, given a checkpoint of ``lstmx translate``, the held-out BLEU and the time to
translate the test split with beam search.

    python examples/quantized_inference.py                          # a 2-layer LSTM, T=50, B=64
    python examples/quantized_inference.py --batch 1 --steps 200    # the latency case
    lstmx translate --demo && python examples/quantized_inference.py --checkpoint translation.npz
"""

import argparse
import time

import numpy as np

import lstmx


def best_time(fn, repeats=5):
    """The fastest of ``repeats`` calls of ``fn`` (after one warm-up call), in seconds."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def compare_layer(steps=50, batch=64, size=512, layers=2, seed=0, repeats=5):
    """Rows (dtype, max |y - y_float32|, ms per forward, speed-up) for an LSTM layer."""
    lstm = lstmx.LSTM(size, size, num_layers=layers, seed=seed).eval()
    x = np.random.default_rng(seed).standard_normal((steps, batch, size)).astype(np.float32)
    reference, _ = lstm(x)
    base = best_time(lambda: lstm(x), repeats)
    rows = [("float32", 0.0, base * 1e3, 1.0)]
    for dtype in ("int8", "bfloat16"):
        q = lstmx.quantize(lstm, dtype)
        y, _ = q(x)
        t = best_time(lambda: q(x), repeats)
        rows.append((dtype, float(np.abs(y - reference).max()), t * 1e3, base / t))
    return rows


def compare_translator(path, beam_size=5):
    """Rows (dtype, BLEU, seconds) of a translation checkpoint on the shipped test split."""
    from lstmx.data.tatoeba_en_fr import tatoeba_en_fr
    from lstmx.metrics import corpus_bleu
    from lstmx.seq2seq import Seq2Seq

    model = Seq2Seq.load(path)
    _, _, test = tatoeba_en_fr(seed=0)
    sources, references = [s for s, _ in test], [t for _, t in test]
    rows = []
    for dtype in ("float32", "int8", "bfloat16"):
        m = model if dtype == "float32" else lstmx.quantize(model, dtype)
        t0 = time.perf_counter()
        hypotheses = m.translate_batch(sources, beam_size=beam_size)
        rows.append((dtype, corpus_bleu(hypotheses, [references]).score,
                     time.perf_counter() - t0))
    sentence = "Where is the train station?"
    print(f"\n{sentence} -> {model.translate(sentence)} (float32), "
          f"{lstmx.quantize(model, 'int8').translate(sentence)} (int8)")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=50, help="time steps T")
    p.add_argument("--batch", type=int, default=64, help="batch B")
    p.add_argument("--size", type=int, default=512, help="input and hidden size")
    p.add_argument("--layers", type=int, default=2, help="stacked layers")
    p.add_argument("--checkpoint", default=None,
                   help="a checkpoint of `lstmx translate` to compare on its test split")
    args = p.parse_args(argv)

    print(f"LSTM, {args.layers} layers, T={args.steps}, B={args.batch}, I=H={args.size}; "
          f"int8 products on {lstmx._core.quantized_path('int8')}, bfloat16 on "
          f"{lstmx._core.quantized_path('bfloat16')}")
    print(f"{'dtype':10s} {'max |Δy|':>10s} {'ms':>9s} {'speed-up':>9s}")
    for dtype, diff, ms, speed in compare_layer(args.steps, args.batch, args.size, args.layers):
        print(f"{dtype:10s} {diff:10.2e} {ms:9.2f} {speed:8.2f}x")
    if args.checkpoint:
        rows = compare_translator(args.checkpoint)
        print(f"{'dtype':10s} {'BLEU':>6s} {'seconds':>8s}")
        for dtype, bleu, seconds in rows:
            print(f"{dtype:10s} {bleu:6.2f} {seconds:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
