"""English -> French translation with an attentional LSTM encoder-decoder.

Trains on lstmx's built-in generated corpus (dates, numbers, ages, prices: the French
reorders and respells them), in about two minutes on two cores, then prints the test BLEU,
a few translations, saves the model and draws the attention of one sentence.

    python examples/translation.py            (same as: lstmx translate --demo)
"""

import time

from lstmx.data import WordTokenizer, builtin_en_fr
from lstmx.metrics import corpus_bleu
from lstmx.seq2seq import Seq2Seq
from lstmx.viz import plot_attention

start = time.perf_counter()
train, valid, test = builtin_en_fr(n_train=20000, n_valid=500, n_test=1000, seed=0)
print(f"{len(train)} training pairs, e.g. {train[0]}")

# Vocabularies come from the training pairs; French output is detokenized with French spacing.
model = Seq2Seq.from_pairs(train, embedding_dim=64, hidden_dim=64, attention_type="bahdanau",
                           cell="lstm", bidirectional_encoder=True, min_freq=2,
                           tgt_tokenizer=WordTokenizer(french_spacing=True), seed=0)

# Adam + gradient clipping through lstmx.train.Trainer, a progress bar per epoch.
model.fit(train, valid, epochs=6, batch_size=64, lr=3e-3, max_seconds=150)

sources, references = [en for en, _ in test], [fr for _, fr in test]
hypotheses = model.translate_batch(sources, beam_size=5)
bleu = corpus_bleu(hypotheses, [references])
print(f"test BLEU {bleu.score:.1f} ({bleu})")
for en, fr, out in list(zip(sources, references, hypotheses))[:5]:
    print(f"  {en}\n    reference: {fr}\n    model:     {out}")

model.save("translation.npz")  # model + vocabularies + tokenizers: Seq2Seq.load(path)
print(Seq2Seq.load("translation.npz").translate("My sister was born on May 3, 1990."))

t = model.translate("The meeting is on Sunday, November 22.", return_attention=True)
plot_attention(t.source_tokens, t.tokens, t.attention, "attention.png", title=t.text)
print(f"attention heatmap: attention.png; total {time.perf_counter() - start:.0f} s")
