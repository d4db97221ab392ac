"""Sequence-to-sequence translation with attention: encoder, decoder, search, model.

    >>> from lstmx.seq2seq import Seq2Seq
    >>> model = Seq2Seq(30, 40, embedding_dim=16, hidden_dim=32, attention_type="luong-general")
"""

from .attention import ATTENTION_TYPES, Attention, BahdanauAttention, LuongAttention, make_attention
from .decoder import Decoder, DecoderState
from .encoder import Bridge, Encoder
from .model import Seq2Seq
from .search import beam_search, greedy_search

__all__ = ["Seq2Seq", "Encoder", "Bridge", "Decoder", "DecoderState", "Attention",
           "BahdanauAttention", "LuongAttention", "make_attention", "ATTENTION_TYPES",
           "greedy_search", "beam_search"]
