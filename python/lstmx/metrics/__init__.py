"""Evaluation metrics: BLEU as sacreBLEU 2.x computes it, and language-model scores.

    >>> from lstmx.metrics import corpus_bleu, sentence_bleu, perplexity, bits_per_char
    >>> bleu = corpus_bleu(["the cat sat on the mat"], [["the cat sat on a mat"]])
    >>> round(bleu.score, 2), bleu.signature.split("|")[0]
    (53.73, 'nrefs:1')
    >>> round(perplexity(0.0), 6), round(bits_per_char(0.6931471805599453), 6)
    (1.0, 1.0)

- :func:`corpus_bleu`, :func:`sentence_bleu`, :class:`BLEUScore` (``bleu.py``);
- the BLEU tokenizers ``"13a"``, ``"char"``, ``"none"`` (``tokenizers.py``);
- :func:`perplexity`, :func:`bits_per_char` from a mean NLL in nats (``language_model.py``).
"""

from .bleu import BLEUScore, corpus_bleu, sentence_bleu
from .language_model import bits_per_char, perplexity
from .tokenizers import TOKENIZERS, tokenize_13a, tokenize_char, tokenize_none

__all__ = ["corpus_bleu", "sentence_bleu", "BLEUScore", "perplexity", "bits_per_char",
           "TOKENIZERS", "tokenize_13a", "tokenize_char", "tokenize_none"]
