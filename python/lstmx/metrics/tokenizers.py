"""The tokenizers BLEU applies before counting n-grams: ``"13a"``, ``"char"``, ``"none"``.

Each takes one segment (a str) and returns its tokens (a list of str), the same tokens
sacreBLEU 2.x counts for the tokenizer of that name:

    >>> tokenize_13a("Hello, world! It costs $3.50.")
    ['Hello', ',', 'world', '!', 'It', 'costs', '$', '3.50', '.']
    >>> tokenize_char("ab c")
    ['a', 'b', 'c']
    >>> tokenize_none("Hello, world!")
    ['Hello,', 'world!']

``"13a"`` is the tokenization of the NIST/WMT scoring script mteval-v13a.pl:

1. language-independent clean-up: drop ``<skipped>``; join lines split by ``-\\n``; turn the
   remaining newlines into spaces; decode ``&quot;``, ``&amp;``, ``&lt;``, ``&gt;`` in that
   order (so ``&amp;lt;`` becomes ``<``, as in the script);
2. pad the line with one space on each side, then apply, in order, four substitutions:
   a. split off every ASCII symbol except ``'``, ``-``, ``.`` and ``,``: the characters
      ``{ | } ~ [ \\ ] ^ _ ` ! " # $ % & ( ) * + : ; < = > ? @ /`` (and space);
   b. split off ``.`` and ``,`` unless preceded by a digit;
   c. split off ``.`` and ``,`` unless followed by a digit;
   d. split off ``-`` when preceded by a digit;
3. split on whitespace.

Substitutions b-d scan left to right without overlapping matches, exactly like Perl's ``s///g``
and Python's ``re.sub``: ``"9--1"`` gives ``['9', '-', '-1']`` (the second dash follows a dash,
not a digit), and the padding makes ``".5"`` give ``['.', '5']``. Only ASCII ``0-9`` count as
digits. ``"char"`` keeps every non-whitespace character as its own token; ``"none"`` splits on
whitespace only.
"""

from __future__ import annotations

import re

# Step 2a: ranges { to ~, [ to `, space to &, ( to +, : to @, and / (mteval-v13a's class).
_SYMBOL = re.compile(r"([{-~\[-` -&(-+:-@/])")
# Step 2b: period or comma after a non-digit (the non-digit is consumed with it).
_PUNCT_AFTER_NON_DIGIT = re.compile(r"([^0-9])([.,])")
# Step 2c: period or comma before a non-digit.
_PUNCT_BEFORE_NON_DIGIT = re.compile(r"([.,])([^0-9])")
# Step 2d: dash after a digit.
_DASH_AFTER_DIGIT = re.compile(r"([0-9])(-)")


def tokenize_13a(line: str) -> list[str]:
    """Tokens of ``line`` under mteval-v13a's rules (see the module docstring)."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        for entity, char in (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
            line = line.replace(entity, char)
    line = f" {line} "
    line = _SYMBOL.sub(r" \1 ", line)
    line = _PUNCT_AFTER_NON_DIGIT.sub(r"\1 \2 ", line)
    line = _PUNCT_BEFORE_NON_DIGIT.sub(r" \1 \2", line)
    line = _DASH_AFTER_DIGIT.sub(r"\1 \2 ", line)
    return line.split()


def tokenize_char(line: str) -> list[str]:
    """Every non-whitespace character of ``line`` as its own token."""
    return [char for char in line if not char.isspace()]


def tokenize_none(line: str) -> list[str]:
    """``line`` split on whitespace, nothing else."""
    return line.split()


TOKENIZERS = {"13a": tokenize_13a, "char": tokenize_char, "none": tokenize_none}
"""Tokenizer name (as in BLEU's ``tokenize=`` and the signature's ``tok:``) to function."""
