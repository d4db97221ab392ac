"""Subword tokenization learnt from the training text (sentencepiece's unigram model).

Why subwords: a word vocabulary maps every word it has not seen to ``<unk>``; subword units
spell any word made of known characters from pieces (``"naïvement"`` -> ``▁na ïve ment``),
and with byte fallback even an unseen character is kept as its UTF-8 bytes. The library is
Google's ``sentencepiece``: it trains in about a second on 100,000 sentences, needs no
pre-tokenization, and its detokenization is exact (spaces are part of the pieces, ``▁``), so
BLEU is computed on text as a person would write it.

    >>> tok = SubwordTokenizer.train(["I am cold.", "You are warm."] * 50, vocab_size=300)
    >>> pieces = tok.tokenize("I am warm.")
    >>> tok.detokenize(pieces)
    'I am warm.'

The model travels with a checkpoint as bytes (``config()``), so a saved translator needs no
other file.
"""

from __future__ import annotations

import base64
import io
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from .vocab import SPECIALS, UNK, Vocab

_BYTE_PIECE = "<0x"


def _sentencepiece() -> Any:
    try:
        import sentencepiece
    except ImportError as err:  # a dependency of lstmx: only a broken install lacks it
        raise ImportError("lstmx's subword tokenizer needs sentencepiece "
                          "(`pip install sentencepiece`)") from err
    return sentencepiece


class SubwordTokenizer:
    """Text <-> subword pieces with a trained sentencepiece model (``train`` or the bytes of
    one). ``tokenize`` gives piece strings for a ``Vocab``; ``detokenize`` inverts it exactly.
    A character never seen in training is reported once (a warning), then kept as bytes."""

    def __init__(self, model: bytes) -> None:
        spm = _sentencepiece()
        self.model = bytes(model)
        self._sp = spm.SentencePieceProcessor(model_proto=self.model)
        self._warned: set[str] = set()

    @classmethod
    def train(cls, sentences: Iterable[str], vocab_size: int = 4000,
              character_coverage: float = 1.0) -> SubwordTokenizer:
        """Learn ``vocab_size`` pieces (specials and the 256 byte pieces included) from
        ``sentences``. Deterministic for the same sentences (one training thread)."""
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 300:
            raise ValueError(f"vocab_size must be an integer >= 300 (it includes 256 byte "
                             f"pieces), got {vocab_size!r}")
        text = [s for s in sentences if s.strip()]
        if not text:
            raise ValueError("train needs at least one non-empty sentence")
        spm = _sentencepiece()
        buf = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(text), model_writer=buf, vocab_size=vocab_size,
                model_type="unigram", character_coverage=character_coverage,
                byte_fallback=True, split_digits=True, normalization_rule_name="identity",
                remove_extra_whitespaces=False, unk_piece=UNK, bos_id=-1, eos_id=-1,
                pad_id=-1, hard_vocab_limit=False, num_threads=1, minloglevel=2)
        except RuntimeError as e:  # sentencepiece's own checks, e.g. too few pieces
            raise ValueError(f"cannot learn {vocab_size} subword pieces from this text: "
                             f"{str(e).split('] ', 1)[-1]}") from None
        return cls(buf.getvalue())

    def tokenize(self, text: str) -> list[str]:
        """The pieces of ``text`` (``▁`` marks a preceding space)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        pieces = self._sp.encode(text, out_type=str)
        if any(p.startswith(_BYTE_PIECE) for p in pieces):
            self._warn_unseen(text)
        return pieces

    def detokenize(self, tokens: Sequence[str]) -> str:
        """Text from pieces; special tokens (``<pad>``, ``<unk>``...) are left out."""
        return self._sp.decode_pieces([t for t in tokens if t not in SPECIALS])

    def pieces(self) -> list[str]:
        """Every piece of the model, in its id order (build a ``Vocab`` from these)."""
        return [self._sp.id_to_piece(i) for i in range(self._sp.get_piece_size())]

    def vocab(self) -> Vocab:
        """A ``Vocab`` holding every piece, so that no piece ever maps to ``<unk>``."""
        return Vocab([self.pieces()])

    def _warn_unseen(self, text: str) -> None:
        for ch in dict.fromkeys(text):
            if ch in self._warned or ch.isspace():
                continue
            if any(p.startswith(_BYTE_PIECE) for p in self._sp.encode(ch, out_type=str)):
                self._warned.add(ch)
                warnings.warn(f"character {ch!r} (U+{ord(ch):04X}) never appeared in the "
                              "training text; it is kept as its bytes, and the model has not "
                              "learnt what it means", stacklevel=3)

    def config(self) -> dict[str, str]:
        """A JSON-able description (the model as base64): ``from_config`` rebuilds it."""
        return {"type": "SubwordTokenizer", "model": base64.b64encode(self.model).decode()}

    @classmethod
    def from_config(cls, config: dict[str, str]) -> SubwordTokenizer:
        return cls(base64.b64decode(config["model"]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SubwordTokenizer) and self.model == other.model

    def __repr__(self) -> str:
        return f"SubwordTokenizer({self._sp.get_piece_size()} pieces)"
