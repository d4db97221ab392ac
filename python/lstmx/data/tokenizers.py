"""Tokenizers: text -> list of string tokens -> text.

``WordTokenizer`` splits words from punctuation in a way that ``detokenize`` can undo, so a
model's output tokens come back as readable text::

    >>> tok = WordTokenizer(french_spacing=True)
    >>> tokens = tok.tokenize("Qu'est-ce que c'est ?")
    >>> tokens
    ["Qu'", 'est', '@-@', 'ce', 'que', "c'", 'est', '?']
    >>> tok.detokenize(tokens)
    "Qu'est-ce que c'est ?"

Conventions (each token says on its own how it attaches to its neighbours):

- text is NFC-normalized; zero-width spaces, soft hyphens and BOMs are dropped; every kind
  of Unicode space (no-break, narrow no-break, thin) separates tokens.
- punctuation is split off; a run of one repeated mark (``...``, ``!!``) stays one token.
- a hyphen inside a word becomes the joiner token ``@-@`` (``twenty-one`` ->
  ``twenty @-@ one``), so compounds share their parts in the vocabulary.
- an apostrophe inside a word: English clitics split before it (``don't`` -> ``do n't``,
  ``it's`` -> ``it 's``), anything else after it, French elision (``l'homme`` -> ``l' homme``,
  ``aujourd'hui`` -> ``aujourd' hui``). A plural possessive keeps it (``students'``).
- numbers keep inner separators (``3.14``, ``21,000``, ``10:30``); dotted abbreviations
  keep their dots (``U.S.``, ``a.m.``).
- combining marks stay with their letters (scripts such as Devanagari keep whole words).

Detokenization puts one space between tokens except before closing punctuation and
clitics, after opening brackets and elisions, around ``@-@`` and ``/``, and inside straight
quotes (which alternate open/close). With ``french_spacing=True`` a space also precedes
``? ! ; : %`` as in French typography. Text that follows these conventions round-trips
exactly; other spacing comes back normalized.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

HYPHEN_JOINER = "@-@"

# Characters removed before tokenizing: zero-width space, soft hyphen, byte-order mark.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u00ad\ufeff"))

# A dotted abbreviation (U.S., a.m.), a word piece, or a run of one repeated non-word,
# non-space character.
_PIECE = re.compile(r"(?:[^\W\d_]\.){2,}|\w+|([^\w\s])\1*")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")

_APOSTROPHES = "'\u2019"
_EN_CLITICS = {"s", "m", "d", "re", "ve", "ll"}

_CLOSING = set(",.!?;:%)]}\u2026")          # no space before
_FRENCH_SPACED = set("!?;:%")                # ... except these, in French
_OPENING = set("([{\u00bf\u00a1$\u00a3")     # no space after
_BOTH = {HYPHEN_JOINER, "/"}                 # no space on either side


def normalize_text(text: str, lowercase: bool = False) -> str:
    """NFC-normalize ``text``, drop invisible characters, optionally lowercase."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    return text.lower() if lowercase else text


def _is_wordlike(piece):
    # \w pieces, and combining marks (category M*) that \w does not match.
    return piece[0].isalnum() or piece[0] == "_" or unicodedata.category(piece[0])[0] == "M"


def _words_and_marks(text):
    """[(start, end, text, is_word)] with touching word-like pieces merged."""
    items = []
    for m in _PIECE.finditer(text):
        start, end, piece = m.start(), m.end(), m.group()
        word = _is_wordlike(piece)
        if word and items and items[-1][3] and items[-1][1] == start:
            s, _, t, _ = items[-1]
            items[-1] = (s, end, t + piece, True)
        else:
            items.append((start, end, piece, word))
    return items


def _split_apostrophe(out, mark, right):
    """Append the tokens of ``<out[-1]><mark><right>``; returns True if ``right`` was used."""
    left = out[-1]
    low = right.lower()
    if low in _EN_CLITICS:                                   # it's -> it 's
        out.append(mark + right)
        return True
    if low == "t" and len(left) > 1 and left[-1] in "nN":    # don't -> do n't
        out[-1] = left[:-1]
        out.append(left[-1] + mark + right)
        return True
    out[-1] = left + mark                                    # l'homme -> l' homme
    return False


class WordTokenizer:
    """Word-level tokenizer with reversible detokenization (see the module docstring).

    ``lowercase``: lowercase after normalization (``detokenize`` cannot restore case).
    ``french_spacing``: ``detokenize`` puts a space before ``? ! ; : %``.

        >>> WordTokenizer(lowercase=True).tokenize("Don't panic, it's 3.14!")
        ['do', "n't", 'panic', ',', 'it', "'s", '3.14', '!']
    """

    def __init__(self, lowercase: bool = False, french_spacing: bool = False) -> None:
        self.lowercase = bool(lowercase)
        self.french_spacing = bool(french_spacing)

    def __repr__(self):
        return (f"WordTokenizer(lowercase={self.lowercase}, "
                f"french_spacing={self.french_spacing})")

    def tokenize(self, text: str) -> list[str]:
        """``text`` (str) -> list of str tokens, never empty strings or whitespace."""
        items = _words_and_marks(normalize_text(text, self.lowercase))
        out = []
        i = 0
        while i < len(items):
            start, end, piece, word = items[i]
            touch_left = i > 0 and items[i - 1][3] and items[i - 1][1] == start
            nxt = items[i + 1] if i + 1 < len(items) else None
            touch_right = nxt is not None and nxt[3] and nxt[0] == end
            if not word and touch_left and touch_right:
                assert nxt is not None  # touch_right
                if piece == "-":
                    out.append(HYPHEN_JOINER)
                    i += 1
                    continue
                if piece in _APOSTROPHES:
                    i += 2 if _split_apostrophe(out, piece, nxt[2]) else 1
                    continue
                if piece in ".,:" and _NUMBER.fullmatch(out[-1]) and nxt[2].isdecimal():
                    out[-1] += piece + nxt[2]
                    i += 2
                    continue
            if (not word and piece in _APOSTROPHES and touch_left and not touch_right
                    and out[-1][-1] in "sS" and len(out[-1]) > 1):
                out[-1] += piece                                 # the students' books
                i += 1
                continue
            out.append(piece)
            i += 1
        return out

    def _attachment(self, token, quotes_open):
        """(no space before, no space after) for ``token``; updates ``quotes_open``."""
        if token in _BOTH:
            return True, True
        if token in ('"', "'"):
            opening = not quotes_open.get(token, False)
            quotes_open[token] = opening
            return (False, True) if opening else (True, False)
        if token in ("\u201c", "\u2018"):
            return False, True
        if token in ("\u201d", "\u2019"):
            return True, False
        if token[0] in _APOSTROPHES and len(token) > 1:
            return True, False                                   # 's 're
        if token.lower() in ("n't", "n\u2019t"):
            return True, False
        if token[-1] in _APOSTROPHES and len(token) > 1:
            stem = token[:-1]
            if len(stem) > 1 and stem[-1] in "sS":
                return False, False                              # students'
            return False, True                                   # l' qu' aujourd'
        if all(ch in _CLOSING for ch in token):
            spaced = self.french_spacing and all(ch in _FRENCH_SPACED for ch in token)
            return not spaced, False
        if token in _OPENING:
            return False, True
        return False, False

    def detokenize(self, tokens: Iterable[str]) -> str:
        """List of tokens -> str, undoing ``tokenize``'s splits (see the module docstring)."""
        parts: list[str] = []
        glue = True
        quotes_open: dict[str, bool] = {}
        for token in tokens:
            if not isinstance(token, str) or not token:
                raise TypeError(f"tokens must be non-empty strings, got {token!r}")
            before, after = self._attachment(token, quotes_open)
            if parts and not (glue or before):
                parts.append(" ")
            parts.append("-" if token == HYPHEN_JOINER else token)
            glue = after
        return "".join(parts)


class CharTokenizer:
    """Character-level tokenizer: NFC-normalized text -> list of characters, spaces and
    newlines included; ``detokenize`` joins them back.

        >>> CharTokenizer().tokenize("Café!")
        ['C', 'a', 'f', 'é', '!']
    """

    def __init__(self, lowercase: bool = False) -> None:
        self.lowercase = bool(lowercase)

    def __repr__(self):
        return f"CharTokenizer(lowercase={self.lowercase})"

    def tokenize(self, text: str) -> list[str]:
        """``text`` (str) -> list of one-character strings (after NFC normalization)."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        text = unicodedata.normalize("NFC", text)
        return list(text.lower() if self.lowercase else text)

    def detokenize(self, tokens: Iterable[str]) -> str:
        """List of characters -> str."""
        return "".join(tokens)
