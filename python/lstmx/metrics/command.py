"""``lstmx bleu``: corpus BLEU of a hypothesis file against reference files, as sacreBLEU.

    lstmx bleu hypotheses.txt references.txt [more-references.txt ...]

Each file holds one sentence per line, line i of every file belonging together. Prints the
score line and the settings signature, as ``sacrebleu REFS < HYPS`` does (13a tokenization,
exponential smoothing, mixed case unless ``--lowercase``).
"""

from __future__ import annotations

import argparse
from typing import Any

from ..arguments import HelpFormatter, input_file, read_utf8_text
from .bleu import corpus_bleu


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bleu`` on an ``argparse`` subparsers object; returns its parser."""
    p = subparsers.add_parser(
        "bleu", help="corpus BLEU of a hypothesis file against reference files (sacreBLEU's)",
        description=__doc__.split("\n\n")[0].replace("``", ""), formatter_class=HelpFormatter)
    p.add_argument("hypotheses", type=input_file, help="the system's output, one per line")
    p.add_argument("references", type=input_file, nargs="+",
                   help="one or more reference files, line by line with the hypotheses")
    p.add_argument("--tokenize", choices=["13a", "char", "none"], default="13a",
                   help="how sentences are split into tokens before counting n-grams")
    p.add_argument("--lowercase", action="store_true", help="compare lowercased text")
    return p


def _lines(path: str) -> list[str]:
    text = read_utf8_text(path)
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the final newline ends the last line
        lines.pop()
    return lines


def run(args: argparse.Namespace) -> int:
    """Print the BLEU line and signature; returns 0."""
    hyps = _lines(args.hypotheses)
    refs = [_lines(path) for path in args.references]
    for path, stream in zip(args.references, refs):
        if len(stream) != len(hyps):
            args.parser.error(f"{path} has {len(stream)} lines, {args.hypotheses} has "
                              f"{len(hyps)}: the files must be line by line the same sentences")
    bleu = corpus_bleu(hyps, refs, tokenize=args.tokenize, lowercase=args.lowercase)
    print(bleu)
    print(bleu.signature)
    return 0
