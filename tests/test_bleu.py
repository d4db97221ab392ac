"""BLEU (lstmx.metrics.bleu, tokenizers) and the language-model scores (language_model).

Part 1: vectors worked out by hand (always run). Part 2: equality with sacreBLEU on seeded
random corpora and edge cases (skipped without sacrebleu). Part 3: bad inputs. Part 4:
perplexity and bits per character.
"""

import logging
import math
import random

import numpy as np
import pytest

from lstmx.metrics import (BLEUScore, bits_per_char, corpus_bleu, perplexity, sentence_bleu,
                           tokenize_13a, tokenize_char, tokenize_none)

VERSION_FREE = "nrefs:{}|case:{}|eff:{}|tok:{}|smooth:{}"


def signature_without_version(signature):
    head, version = signature.rsplit("|", 1)
    assert version.startswith("version:"), signature
    return head


def check_numbers(got, score, counts, totals, precisions, bp, sys_len, ref_len):
    """Compare a BLEUScore with hand-computed values (1e-9), naming the field that differs."""
    assert got.counts == tuple(counts), f"counts: expected {counts}, got {got.counts}"
    assert got.totals == tuple(totals), f"totals: expected {totals}, got {got.totals}"
    assert (got.sys_len, got.ref_len) == (sys_len, ref_len), \
        f"lengths: expected {(sys_len, ref_len)}, got {(got.sys_len, got.ref_len)}"
    for n, (p_got, p_want) in enumerate(zip(got.precisions, precisions)):
        assert abs(p_got - p_want) <= 1e-9, f"precisions[{n}]: expected {p_want}, got {p_got}"
    assert abs(got.bp - bp) <= 1e-12, f"bp: expected {bp}, got {got.bp}"
    assert abs(got.score - score) <= 1e-9, f"score: expected {score}, got {got.score}"


# ---------------------------------------------------------------------------------------------
# Part 1: hand-computed vectors
# ---------------------------------------------------------------------------------------------

CAT_HYP, CAT_REF = "the cat sat on the mat", "the cat sat on a mat"


def test_one_sentence_by_hand():
    # hyp: the cat sat on the mat (6 tokens)      ref: the cat sat on a mat (6 tokens)
    # 1-grams: the x2 (ref has 1: clipped to 1), cat, sat, on, mat        -> 5 / 6
    # 2-grams: the cat, cat sat, sat on | on the, the mat                  -> 3 / 5
    # 3-grams: the cat sat, cat sat on | sat on the, on the mat           -> 2 / 4
    # 4-grams: the cat sat on | cat sat on the, sat on the mat            -> 1 / 3
    # BP = 1 (6 = 6); BLEU = 100 * (5/6 * 3/5 * 2/4 * 1/3) ** (1/4) = 100 * (1/12) ** (1/4)
    got = corpus_bleu([CAT_HYP], [[CAT_REF]])
    check_numbers(got, 100 * (1 / 12) ** 0.25, [5, 3, 2, 1], [6, 5, 4, 3],
                  [500 / 6, 60.0, 50.0, 100 / 3], 1.0, 6, 6)
    assert round(got.score, 2) == 53.73
    assert str(got) == ("BLEU = 53.73 83.3/60.0/50.0/33.3 "
                        "(BP = 1.000 ratio = 1.000 hyp_len = 6 ref_len = 6)")
    assert got.signature == "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:lstmx-0.1.0"
    assert isinstance(got, BLEUScore)


def test_corpus_sums_statistics_before_the_mean():
    # Sentence 2: hyp "a dog barked" (3), ref "a dog barked loudly" (4):
    #   1-grams 3/3, 2-grams 2/2, 3-grams 1/1, 4-grams 0/0.
    # Corpus: counts 5+3, 3+2, 2+1, 1+0 = [8, 5, 3, 1]; totals [9, 7, 5, 3]; lengths 9 vs 10.
    # BP = exp(1 - 10/9) = exp(-1/9); BLEU = 100 BP (8/9 * 5/7 * 3/5 * 1/3) ** (1/4)
    #                                      = 100 exp(-1/9) (8/63) ** (1/4)
    got = corpus_bleu([CAT_HYP, "a dog barked"], [[CAT_REF, "a dog barked loudly"]])
    bp = math.exp(-1 / 9)
    check_numbers(got, 100 * bp * (8 / 63) ** 0.25, [8, 5, 3, 1], [9, 7, 5, 3],
                  [800 / 9, 500 / 7, 60.0, 100 / 3], bp, 9, 10)
    assert str(got).endswith("(BP = 0.895 ratio = 0.900 hyp_len = 9 ref_len = 10)")


def test_sentence_bleu_uses_effective_order():
    # hyp "a dog barked" vs "a dog barked loudly": precisions 100/100/100, no 4-gram (total 0),
    # so effective order averages 3 orders: BLEU = 100 * exp(1 - 4/3) = 100 exp(-1/3).
    got = sentence_bleu("a dog barked", ["a dog barked loudly"])
    check_numbers(got, 100 * math.exp(-1 / 3), [3, 2, 1, 0], [3, 2, 1, 0],
                  [100.0, 100.0, 100.0, 0.0], math.exp(-1 / 3), 3, 4)
    assert "|eff:yes|" in got.signature
    # Without effective order the empty 4-gram order has precision 0, so BLEU is 0.
    plain = sentence_bleu("a dog barked", ["a dog barked loudly"], use_effective_order=False)
    check_numbers(plain, 0.0, [3, 2, 1, 0], [3, 2, 1, 0], [100.0, 100.0, 100.0, 0.0],
                  math.exp(-1 / 3), 3, 4)


# hyp "a b c d e" vs ref "a b x d e": 1-grams a b d e -> 4/5; 2-grams ab, de -> 2/4;
# 3-grams abc bcd cde -> 0/3; 4-grams abcd bcde -> 0/2; BP = 1 (5 = 5).
GAP_COUNTS, GAP_TOTALS = [4, 2, 0, 0], [5, 4, 3, 2]


@pytest.mark.parametrize("method, value, precisions", [
    # exp: the 1st unmatched order gets 100/(2*3), the 2nd 100/(4*2).
    ("exp", None, [80.0, 50.0, 100 / 6, 12.5]),
    # floor 0.1: 100 * 0.1 / 3 and 100 * 0.1 / 2.
    ("floor", None, [80.0, 50.0, 10 / 3, 5.0]),
    ("floor", 0.5, [80.0, 50.0, 50 / 3, 25.0]),
    # add-k 1, orders >= 2: 100 (2+1)/(4+1), 100 (0+1)/(3+1), 100 (0+1)/(2+1).
    ("add-k", None, [80.0, 60.0, 25.0, 100 / 3]),
    ("add-k", 2, [80.0, 100 * 4 / 6, 100 * 2 / 5, 50.0]),
    # none: the zeros stay, and BLEU is 0.
    ("none", None, [80.0, 50.0, 0.0, 0.0]),
])
def test_smoothing_by_hand(method, value, precisions):
    got = corpus_bleu(["a b c d e"], [["a b x d e"]], smooth_method=method, smooth_value=value)
    want = 0.0 if 0.0 in precisions else math.exp(sum(map(math.log, precisions)) / 4)
    check_numbers(got, want, GAP_COUNTS, GAP_TOTALS, precisions, 1.0, 5, 5)
    shown = {"exp": "exp", "none": "none", "floor": "floor[{:.2f}]", "add-k": "add-k[{:.2f}]"}
    default = {"floor": 0.1, "add-k": 1}.get(method)
    smooth = shown[method].format(value if value is not None else default)
    assert signature_without_version(got.signature) == VERSION_FREE.format(
        1, "mixed", "no", "13a", smooth)


def test_several_references_clip_and_closest_length():
    # hyp "the the the" (3); refs "the cat" (2) and "the the dog" (3).
    # "the" may match max(1, 2) = 2 times: 1-grams 2/3. 2-grams "the the" x2, ref 2 has it
    # once: 1/2. 3-grams "the the the": 0/1. Closest reference length to 3 is 3.
    # With effective order (3 orders, exp smoothing: p3 = 100/(2*1) = 50):
    # BLEU = (200/3 * 50 * 50) ** (1/3).
    got = corpus_bleu(["the the the"], [["the cat"], ["the the dog"]], use_effective_order=True)
    check_numbers(got, (200 / 3 * 50 * 50) ** (1 / 3), [2, 1, 0, 0], [3, 2, 1, 0],
                  [200 / 3, 50.0, 50.0, 0.0], 1.0, 3, 3)
    assert got.signature.startswith("nrefs:2|")


@pytest.mark.parametrize("hyp, refs, ref_len", [
    ("a b c d e", ["a b c d", "a b c d e f"], 4),       # 4 and 6 are equally close: the shorter
    ("a b c d e", ["a b c", "a b c d e f g h"], 3),     # |5-3| = 2 < |5-8| = 3
    ("a b", ["a b c d e f g", "a b c d e"], 5),         # 5 is closer to 2 than 7
])
def test_closest_reference_length(hyp, refs, ref_len):
    got = sentence_bleu(hyp, refs)
    assert got.ref_len == ref_len
    assert got.bp == (1.0 if got.sys_len >= ref_len else math.exp(1 - ref_len / got.sys_len))


def test_lowercase_and_variable_references():
    # Mixed case: no unigram matches, BLEU 0. Lowercased: identical, BLEU 100.
    assert sentence_bleu("The Cat", ["the cat"]).score == 0.0
    got = sentence_bleu("The Cat", ["the cat"], lowercase=True)
    assert abs(got.score - 100.0) < 1e-9 and "|case:lc|" in got.signature
    # Sentence 2 has only one reference: nrefs is "var".
    var = corpus_bleu(["a b", "c d"], [["a b", "c d"], ["a c", None]])
    assert var.signature.startswith("nrefs:var|") and var.counts == (4, 2, 0, 0)


@pytest.mark.parametrize("text, tokens", [
    ("Hello, world!", ["Hello", ",", "world", "!"]),
    # digits keep their . , inside numbers; a dash after a digit splits
    ("3.14, 2,000 and 1-2", ["3.14", ",", "2,000", "and", "1", "-", "2"]),
    ("It costs $3.50.", ["It", "costs", "$", "3.50", "."]),
    ("don't e-mail", ["don't", "e-mail"]),                # ' and - between letters stay
    ("&amp;lt; &quot;x&quot;", ["<", '"', "x", '"']),     # &amp; first, then &lt;
    ("a<skipped>b line-\nbreak", ["ab", "linebreak"]),
    (".5", [".", "5"]),                                   # the padding space precedes "."
    ("9--1", ["9", "-", "-1"]),                           # non-overlapping left-to-right scan
    ("Größe: 5€ — naïve", ["Größe", ":", "5€", "—", "naïve"]),
    ("(a)[b]{c}/d", ["(", "a", ")", "[", "b", "]", "{", "c", "}", "/", "d"]),
])
def test_tokenize_13a_by_hand(text, tokens):
    assert tokenize_13a(text) == tokens


def test_char_and_none_tokenizers():
    assert tokenize_char("ab c\u00a0d") == ["a", "b", "c", "d"]
    assert tokenize_none("Hello, world!  x") == ["Hello,", "world!", "x"]
    # "none": "world!" is one token and does not match "world": 1-grams 1/2, 2-grams 0/1,
    # effective order 2 with exp smoothing: (50 * 100/(2*1)) ** (1/2) = 50.
    got = sentence_bleu("hello world!", ["hello world"], tokenize="none")
    assert abs(got.score - 50.0) < 1e-9 and "|tok:none|" in got.signature
    # "char": h e l l o w o r l d ! vs the same without "!": counts 10/11 ...
    got = sentence_bleu("hello world!", ["hello world"], tokenize="char")
    assert got.counts == (10, 9, 8, 7) and got.totals == (11, 10, 9, 8)


def test_edge_cases_by_hand():
    # Empty hypothesis: sys_len 0 < ref_len 2 gives BP 0; no n-gram, score 0.
    empty = corpus_bleu([""], [["a b"]])
    check_numbers(empty, 0.0, [0] * 4, [0] * 4, [0.0] * 4, 0.0, 0, 2)
    assert str(empty) == ("BLEU = 0.00 0.0/0.0/0.0/0.0 "
                          "(BP = 0.000 ratio = 0.000 hyp_len = 0 ref_len = 2)")
    # Empty corpus: all statistics 0, BP 1 (0 is not below 0), score 0; ratio shown as 0.
    none = corpus_bleu([], [[]])
    check_numbers(none, 0.0, [0] * 4, [0] * 4, [0.0] * 4, 1.0, 0, 0)
    assert none.ratio == 0.0 and none.signature.startswith("nrefs:1|")
    # Empty reference, non-empty hypothesis: BP 1, nothing matches.
    check_numbers(corpus_bleu(["a b"], [[""]]), 0.0, [0] * 4, [2, 1, 0, 0], [0.0] * 4,
                  1.0, 2, 0)
    # No n-gram matches: precisions stay 0 whatever the smoothing.
    for method in ("exp", "floor", "add-k", "none"):
        got = corpus_bleu(["a b c d"], [["e f g h"]], smooth_method=method)
        check_numbers(got, 0.0, [0] * 4, [4, 3, 2, 1], [0.0] * 4, 1.0, 4, 4)


# ---------------------------------------------------------------------------------------------
# Part 2: equality with sacreBLEU
# ---------------------------------------------------------------------------------------------

VOCAB = ["the", "The", "cat", "CAT", "sat", "on", "mat", "a", "dog", "Straße", "naïve",
         "日本", "语", "€", "—", "\u00a0", ",", ".", "!", "?", "'s", "don't", "$", "3.5", "1,000",
         "42", "1-2", "e-mail", "(", ")", "&amp;", "&quot;", "&lt;", "<skipped>", "-", "--",
         "..", ":", "/", "\"", "x.y", "é", "É", "İ"]
JOINERS = [" ", " ", " ", " ", "", "  ", "\t", "\n", "-\n"]


def random_text(rnd, max_words):
    words = [rnd.choice(VOCAB) for _ in range(rnd.randint(0, max_words))]
    text = ""
    for word in words:
        text += word + rnd.choice(JOINERS)
    return text if rnd.random() < 0.8 else " " + text + " "


def random_settings(rnd):
    method = rnd.choice(["exp", "floor", "add-k", "none"])
    value = None
    if method in ("floor", "add-k") and rnd.random() < 0.5:
        value = rnd.choice([0, 0.01, 0.3, 1, 2.5])
    return dict(tokenize=rnd.choice(["13a", "char", "none"]), lowercase=rnd.random() < 0.3,
                smooth_method=method, smooth_value=value,
                use_effective_order=rnd.random() < 0.5)


def assert_same_as_sacrebleu(got, want, settings, where):
    """All numbers within 1e-9; counts as sacreBLEU's minus the k it adds for add-k."""
    k = 0
    if settings["smooth_method"] == "add-k" and any(got.counts):
        k = settings["smooth_value"] if settings["smooth_value"] is not None else 1
    for n in range(4):
        shift = k if n > 0 else 0
        assert abs(got.counts[n] - (want.counts[n] - shift)) <= 1e-9, f"{where}: counts[{n}]"
        assert abs(got.totals[n] - (want.totals[n] - shift)) <= 1e-9, f"{where}: totals[{n}]"
        assert abs(got.precisions[n] - want.precisions[n]) <= 1e-9, \
            f"{where}: precisions[{n}] {got.precisions[n]} vs sacreBLEU {want.precisions[n]}"
    assert (got.sys_len, got.ref_len) == (want.sys_len, want.ref_len), f"{where}: lengths"
    assert abs(got.bp - want.bp) <= 1e-9, f"{where}: bp {got.bp} vs sacreBLEU {want.bp}"
    assert abs(got.score - want.score) <= 1e-9, \
        f"{where}: score {got.score} vs sacreBLEU {want.score}"
    assert str(got).split(" (BP")[1] == str(want).split(" (BP")[1], where


@pytest.fixture
def sacrebleu():
    module = pytest.importorskip("sacrebleu")
    logging.getLogger("sacrebleu").setLevel(logging.ERROR)   # its effective-order advice
    return module


def sacrebleu_metric(sacrebleu, settings):
    return sacrebleu.BLEU(tokenize=settings["tokenize"], lowercase=settings["lowercase"],
                          smooth_method=settings["smooth_method"],
                          smooth_value=settings["smooth_value"],
                          effective_order=settings["use_effective_order"])


def test_13a_tokens_match_sacrebleu_on_random_strings(sacrebleu):
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    theirs = Tokenizer13a()
    rnd = random.Random(13)
    alphabet = "ab9 0.,-'$&;<>qt\n\"(){}[]\\^_`~|@?/:=+*#%!é€\u00a0\t"
    for case in range(2000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 20)))
        if rnd.random() < 0.2:
            text += rnd.choice(["&amp;", "&quot;", "&lt;", "&gt;", "<skipped>", "-\n"])
        assert tokenize_13a(text) == theirs(text).split(), f"case {case}: {text!r}"


def test_corpus_bleu_matches_sacrebleu(sacrebleu):
    rnd = random.Random(2024)
    for case in range(300):
        settings = random_settings(rnd)
        n_sent, k_refs = rnd.randint(1, 6), rnd.randint(1, 3)
        hyps = [random_text(rnd, 12) for _ in range(n_sent)]
        refs = [[random_text(rnd, 12) for _ in range(n_sent)] for _ in range(k_refs)]
        if k_refs > 1 and rnd.random() < 0.3:            # a missing reference: nrefs:var
            refs[-1][rnd.randrange(n_sent)] = None
        if rnd.random() < 0.5:                           # share words so n-grams match
            refs[0] = [h if rnd.random() < 0.5 else r for h, r in zip(hyps, refs[0])]
        metric = sacrebleu_metric(sacrebleu, settings)
        want = metric.corpus_score(hyps, refs)
        got = corpus_bleu(hyps, refs, **settings)
        where = f"case {case} {settings}"
        assert_same_as_sacrebleu(got, want, settings, where)
        assert signature_without_version(got.signature) == \
            signature_without_version(metric.get_signature().format()), where


def test_sentence_bleu_matches_sacrebleu(sacrebleu):
    rnd = random.Random(7)
    for case in range(300):
        settings = random_settings(rnd)
        if case % 3 == 0:                                # sentence_bleu's defaults
            settings = dict(tokenize="13a", lowercase=False, smooth_method="exp",
                            smooth_value=None, use_effective_order=True)
        hyp = random_text(rnd, 10)
        refs = [random_text(rnd, 10) for _ in range(rnd.randint(1, 3))]
        if rnd.random() < 0.5:
            refs[0] = " ".join(hyp.split()[:rnd.randint(0, 10)] + refs[0].split())
        want = sacrebleu.sentence_bleu(hyp, refs, **settings)
        got = sentence_bleu(hyp, refs, **settings)
        assert_same_as_sacrebleu(got, want, settings, f"case {case} {settings}")


@pytest.mark.parametrize("hyps, refs", [
    ([""], [["a b c"]]),                                  # empty hypothesis
    ([""], [[""]]),                                       # both empty
    (["a b"], [[""]]),                                    # empty reference
    (["a b c d"], [["e f g h"]]),                         # no match at all
    (["a"], [["a"]]),                                     # only unigrams
    (["a b c d e"], [["a b x d e"]]),                     # unmatched middle orders
    (["   "], [["  x "]]),                                # whitespace only
    (["a b", "", "c d e f g"], [["a b", "z", "c d e f g h"], ["b a", "", "c"]]),
])
def test_edge_cases_match_sacrebleu(sacrebleu, hyps, refs):
    for method in ("exp", "floor", "add-k", "none"):
        for effective in (False, True):
            settings = dict(tokenize="13a", lowercase=False, smooth_method=method,
                            smooth_value=None, use_effective_order=effective)
            want = sacrebleu_metric(sacrebleu, settings).corpus_score(hyps, refs)
            got = corpus_bleu(hyps, refs, **settings)
            assert_same_as_sacrebleu(got, want, settings, f"{hyps} {settings}")


def test_default_settings_match_sacrebleu(sacrebleu):
    hyps = [CAT_HYP, "a dog barked", "It costs $3.50, I think."]
    refs = [[CAT_REF, "a dog barked loudly", "It costs $3.50 , I think ."],
            ["the cat is on the mat", "the dog barked", "I think it costs 3.50 dollars."]]
    got, want = corpus_bleu(hyps, refs), sacrebleu.corpus_bleu(hyps, refs)
    assert str(got) == str(want)
    assert abs(got.score - want.score) <= 1e-9
    got, want = sentence_bleu(hyps[0], [CAT_REF]), sacrebleu.sentence_bleu(hyps[0], [CAT_REF])
    assert str(got) == str(want)


# ---------------------------------------------------------------------------------------------
# Part 3: bad inputs: clear errors that name the argument, stream or index
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("hyps, refs, error, match", [
    ("the cat", [["the cat"]], TypeError, r"hypotheses must be a list of str.*got a str"),
    (["a", "b", 3], [["a", "b", "c"]], TypeError, r"hypotheses\[2\] is int, expected str"),
    ({"a"}, [["a"]], TypeError, r"hypotheses must be a list of str, got set"),
    (["a", "b"], [["a", "b"], ["a"]], ValueError,
     r"references\[1\] has 1 sentences but hypotheses has 2"),
    (["a", "b"], ["a", "b"], TypeError, r"references\[0\] is a str"),
    (["a"], [], ValueError, r"got no stream"),
    (["a"], "a", TypeError, r"list of reference streams"),
    (["a", "b"], [["a", 5]], TypeError, r"references\[0\]\[1\] is int, expected str"),
    (["a", "b"], [["a", None], [None, None]], ValueError, r"hypotheses\[1\] has no reference"),
])
def test_bad_corpus_inputs(hyps, refs, error, match):
    with pytest.raises(error, match=match):
        corpus_bleu(hyps, refs)


@pytest.mark.parametrize("options, error, match", [
    (dict(tokenize="intl"), ValueError, r"unknown tokenize='intl'; choose one of '13a'"),
    (dict(smooth_method="add-one"), ValueError, r"unknown smooth_method='add-one'"),
    (dict(smooth_value=0.1), ValueError, r"smooth_method='exp' takes no smooth_value"),
    (dict(smooth_method="floor", smooth_value=-1), ValueError, r"finite and >= 0"),
    (dict(smooth_method="add-k", smooth_value="1"), TypeError, r"smooth_value must be a number"),
    (dict(lowercase="yes"), TypeError, r"lowercase must be True or False"),
])
def test_bad_options(options, error, match):
    with pytest.raises(error, match=match):
        corpus_bleu(["a"], [["a"]], **options)
    with pytest.raises(error, match=match):
        sentence_bleu("a", ["a"], **options)


def test_bad_sentence_inputs():
    with pytest.raises(TypeError, match=r"hypothesis must be a str, got list"):
        sentence_bleu(["a"], ["a"])
    with pytest.raises(TypeError, match=r"got a str; for one reference pass \[reference\]"):
        sentence_bleu("a", "a")
    with pytest.raises(TypeError, match=r"references\[1\] is int"):
        sentence_bleu("a", ["a", 1])
    with pytest.raises(ValueError, match=r"no reference"):
        sentence_bleu("a", [None])


# ---------------------------------------------------------------------------------------------
# Part 4: perplexity and bits per character
# ---------------------------------------------------------------------------------------------

def test_perplexity_and_bits_per_char(rng):
    # A model assigning probabilities p_t: mean NLL = -mean(log p_t); perplexity is the
    # inverse geometric mean of p_t, and bits/char is the mean of -log2 p_t.
    probs = rng.uniform(0.01, 1.0, size=50)
    nll = float(-np.mean(np.log(probs)))
    assert abs(perplexity(nll) - float(np.prod(probs) ** (-1 / 50))) <= 1e-9 * perplexity(nll)
    assert abs(bits_per_char(nll) - float(-np.mean(np.log2(probs)))) <= 1e-12
    assert abs(2 ** bits_per_char(nll) - perplexity(nll)) <= 1e-9 * perplexity(nll)
    # Uniform over 4 symbols: perplexity 4, 2 bits; a certain model: perplexity 1, 0 bits.
    assert abs(perplexity(math.log(4)) - 4) <= 1e-12
    assert abs(bits_per_char(math.log(4)) - 2) <= 1e-12
    assert perplexity(0.0) == 1.0 and bits_per_char(0) == 0.0
    assert perplexity(np.float32(math.log(2))) == pytest.approx(2.0, rel=1e-6)
    assert perplexity(1e6) == math.inf


@pytest.mark.parametrize("value, error", [
    (-0.5, ValueError), (float("nan"), ValueError), ("1.0", TypeError), (None, TypeError),
    (True, TypeError)])
def test_language_model_scores_refuse_bad_input(value, error):
    with pytest.raises(error, match="mean_nll"):
        perplexity(value)
    with pytest.raises(error, match="mean_nll"):
        bits_per_char(value)
