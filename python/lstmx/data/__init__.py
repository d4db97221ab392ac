"""Text data for lstmx: tokenizers, vocabularies, padding and bucketing, corpora.

    >>> from lstmx.data import WordTokenizer, Vocab, seq2seq_batches, builtin_en_fr
    >>> train, valid, test = builtin_en_fr(n_train=2000, n_valid=100, n_test=100)
    >>> tok = WordTokenizer()
    >>> src = Vocab(tok.tokenize(en) for en, _ in train)
    >>> tgt = Vocab(tok.tokenize(fr) for _, fr in train)
    >>> ids = [(src.encode(tok.tokenize(en)), tgt.encode(tok.tokenize(fr))) for en, fr in train]
    >>> batches = seq2seq_batches(ids, batch_size=64, seed=0)
"""

from .batching import (Seq2SeqBatch, ShardedSeq2SeqBatches, bucket_batches, lengths_to_mask,
                       make_seq2seq_batch, pad_batch, seq2seq_batches)
from .en_fr import builtin_en_fr, date_phrase, number_phrase
from .tatoeba import Splits, load_tatoeba, read_tatoeba
from .tokenizers import CharTokenizer, WordTokenizer, normalize_text
from .vocab import EOS_ID, PAD_ID, SOS_ID, SPECIALS, UNK_ID, Vocab
