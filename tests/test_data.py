"""lstmx.data: tokenizers, vocabulary, padding and bucketing, Tatoeba loader, built-in corpus."""

import datetime
import json
import unicodedata

import numpy as np
import pytest

from lstmx.data import (EOS_ID, PAD_ID, SOS_ID, UNK_ID, CharTokenizer, Vocab, WordTokenizer,
                        bucket_batches, builtin_en_fr, date_phrase, lengths_to_mask,
                        load_tatoeba, make_seq2seq_batch, number_phrase, pad_batch,
                        read_tatoeba, seq2seq_batches)

ENGLISH = [
    "Don't worry, I'm fine.",
    "It's 3.14, isn't it?",
    "Tom's book costs $21,000 (about 20%).",
    'She said "hello" and left.',
    "Wait... what?!",
    "The students' books are well-known.",
    "I can't go; it's 10:30 already: too late!",
    "Sunday, November 22, 2026",
    "The U.S. plane leaves at 8:00 a.m.",
    "twenty-one thousand, nine hundred and ninety-nine",
]

FRENCH = [
    "Qu'est-ce que c'est ?",
    "L'homme est arrivé aujourd'hui.",
    "Il a dit « bonjour » !",
    "J'ai vingt et un ans ; c'est ça.",
    "Est-ce qu'il viendra ?",
    "Jusqu'à 50 % de réduction !",
    "A-t-il mangé ?",
    "dimanche 22 nov. 2026",
    "quatre-vingt-dix-neuf mille",
]


# --- tokenizers -------------------------------------------------------------------------

@pytest.mark.parametrize("text", ENGLISH)
def test_word_round_trip_english(text):
    tok = WordTokenizer()
    tokens = tok.tokenize(text)
    assert all(t and not any(c.isspace() for c in t) for t in tokens), tokens
    assert tok.detokenize(tokens) == text, tokens


@pytest.mark.parametrize("text", FRENCH)
def test_word_round_trip_french(text):
    tok = WordTokenizer(french_spacing=True)
    assert tok.detokenize(tok.tokenize(text)) == text, tok.tokenize(text)


def test_word_splits():
    tok = WordTokenizer()
    assert tok.tokenize("Qu'est-ce que c'est ?") == ["Qu'", "est", "@-@", "ce", "que", "c'",
                                                     "est", "?"]
    assert tok.tokenize("l'homme") == ["l'", "homme"]
    assert tok.tokenize("don't") == ["do", "n't"]
    assert tok.tokenize("it's") == ["it", "'s"]
    assert tok.tokenize("twenty-one") == ["twenty", "@-@", "one"]
    assert tok.tokenize("Nov 22, 2026.") == ["Nov", "22", ",", "2026", "."]
    assert tok.tokenize("21,000 3.14 10:30") == ["21,000", "3.14", "10:30"]
    assert tok.tokenize("Wait...") == ["Wait", "..."]
    assert tok.tokenize("the U.S. at 8 a.m.") == ["the", "U.S.", "at", "8", "a.m."]
    assert tok.tokenize("  \t ") == []


def test_word_unicode_normalization():
    tok = WordTokenizer()
    assert tok.tokenize("cafe\u0301") == ["caf\u00e9"] == tok.tokenize("caf\u00e9")
    # every kind of space separates; invisible characters vanish
    assert tok.tokenize("Ça va\u00a0?") == tok.tokenize("Ça va\u202f?") == ["Ça", "va", "?"]
    assert tok.tokenize("mot\u200bmot") == ["motmot"]
    # combining marks stay with their letters (Devanagari vowel signs and virama)
    assert tok.tokenize("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]
    assert WordTokenizer(french_spacing=True).detokenize(tok.tokenize("Ça va\u00a0?")) == "Ça va ?"


def test_word_lowercase():
    tok = WordTokenizer(lowercase=True)
    assert tok.tokenize("L'Été") == ["l'", "été"]
    text = "Qu'est-ce que C'EST ?"
    assert WordTokenizer(lowercase=True, french_spacing=True).detokenize(
        tok.tokenize(text)) == text.lower()


def test_word_rejects_non_strings():
    with pytest.raises(TypeError, match="str"):
        WordTokenizer().tokenize(["a", "b"])
    with pytest.raises(TypeError, match="non-empty"):
        WordTokenizer().detokenize(["a", ""])


def test_char_round_trip():
    tok = CharTokenizer()
    text = "Cafe\u0301, l'été!\n  ok"
    chars = tok.tokenize(text)
    assert chars[3] == "\u00e9" and len(chars) == len(unicodedata.normalize("NFC", text))
    assert tok.detokenize(chars) == unicodedata.normalize("NFC", text)
    assert CharTokenizer(lowercase=True).tokenize("AB") == ["a", "b"]


# --- vocabulary --------------------------------------------------------------------------

def test_vocab_specials_order_and_unk():
    v = Vocab([["b", "a", "a"], ["c", "a", "b"]])
    assert v.tokens[:4] == ["<pad>", "<sos>", "<eos>", "<unk>"]
    assert (v.pad_id, v.sos_id, v.eos_id, v.unk_id) == (PAD_ID, SOS_ID, EOS_ID, UNK_ID) == (
        0, 1, 2, 3)
    assert v.tokens[4:] == ["a", "b", "c"]          # by count, ties by text
    assert v.encode(["a", "zzz", "c"]) == [4, 3, 6]
    assert v.encode(["a"], add_sos=True, add_eos=True) == [1, 4, 2]
    assert v["nope"] == UNK_ID and "a" in v and "nope" not in v
    assert v.decode(np.array([1, 4, 3, 6, 2, 5, 0])) == ["a", "<unk>", "c"]
    assert v.decode([1, 4, 2, 0], strip_special=False) == ["<sos>", "a", "<eos>", "<pad>"]


def test_vocab_min_freq_and_max_size():
    seqs = [list("aaaabbbccd")]
    assert Vocab(seqs, min_freq=2).tokens[4:] == ["a", "b", "c"]
    assert Vocab(seqs, min_freq=4).tokens[4:] == ["a"]
    capped = Vocab(seqs, max_size=6)
    assert len(capped) == 6 and capped.tokens[4:] == ["a", "b"]
    assert capped.encode(["d"]) == [UNK_ID]
    assert Vocab([["x", "y"]]) == Vocab([["y", "x"]])  # order of the corpus does not matter


def test_vocab_bad_arguments():
    with pytest.raises(ValueError, match="min_freq"):
        Vocab([["a"]], min_freq=0)
    with pytest.raises(ValueError, match="max_size"):
        Vocab([["a"]], max_size=3)
    with pytest.raises(TypeError, match="token lists"):
        Vocab(["hello world"])
    with pytest.raises(IndexError, match="out of range"):
        Vocab([["a"]]).decode([9])


def test_vocab_json_round_trip(tmp_path):
    v = Vocab([["été", "a", "<unk>", "a"], ["l'", "a"]], min_freq=1, max_size=50)
    again = Vocab.from_json(v.to_json())
    assert again == v and again.tokens == v.tokens and again.max_size == 50
    path = tmp_path / "vocab.json"
    v.save(path)
    assert "été" in path.read_text(encoding="utf-8")
    loaded = Vocab.load(path)
    assert loaded.tokens == v.tokens and loaded.encode(["été"]) == v.encode(["été"])
    bad = json.loads(v.to_json())
    bad["tokens"] = ["a", "b"]
    with pytest.raises(ValueError, match="specials"):
        Vocab.from_json(json.dumps(bad))
    with pytest.raises(ValueError, match="lstmx.Vocab"):
        Vocab.from_json("[1, 2]")


# --- padding and batching ----------------------------------------------------------------

def test_pad_batch_and_mask():
    seqs = [[5, 6, 7], [8], [9, 10]]
    ids, lengths = pad_batch(seqs, pad_id=0)
    assert ids.dtype == np.int64 and lengths.dtype == np.int64
    assert ids.shape == (3, 3)
    np.testing.assert_array_equal(ids, [[5, 8, 9], [6, 0, 10], [7, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 2])
    mask = lengths_to_mask(lengths)
    assert mask.dtype == bool and mask.shape == (3, 3)
    np.testing.assert_array_equal(mask, ids != 0)
    assert lengths_to_mask(lengths, max_len=5).shape == (5, 3)
    with pytest.raises(ValueError, match=r"seqs\[1\] is empty"):
        pad_batch([[1], []])
    with pytest.raises(ValueError, match="max_len"):
        lengths_to_mask(lengths, max_len=2)


def test_bucketing_covers_each_example_once(rng):
    lengths = rng.integers(1, 40, size=1003)
    batches = bucket_batches(lengths, batch_size=16, seed=3, pool_factor=10)
    seen = np.concatenate(batches)
    np.testing.assert_array_equal(np.sort(seen), np.arange(1003))
    assert all(1 <= len(b) <= 16 for b in batches)
    assert sum(len(b) < 16 for b in batches) == 1
    # sorting within pools makes batches tighter than random ones
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    random_spread = np.mean([np.ptp(lengths[b]) for b in np.array_split(np.arange(1003), 63)])
    assert spread < random_spread / 3
    dropped = bucket_batches(lengths, batch_size=16, seed=3, pool_factor=10, drop_last=True)
    assert all(len(b) == 16 for b in dropped) and len(dropped) == len(batches) - 1


def test_bucketing_is_seed_reproducible(rng):
    lengths = rng.integers(1, 30, size=200)
    a = bucket_batches(lengths, 8, seed=7)
    b = bucket_batches(lengths, 8, seed=7)
    c = bucket_batches(lengths, 8, seed=8)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    ordered = bucket_batches(lengths, 8, shuffle=False, pool_factor=1000)
    np.testing.assert_array_equal(np.concatenate(ordered),
                                  np.argsort(lengths, kind="stable"))


def test_seq2seq_batch_layout():
    batch = make_seq2seq_batch([[4, 5, 6], [7]], [[8, 9], [10, 11, 12]])
    (src, src_lengths, tgt_in), tgt_out, tgt_mask = batch
    np.testing.assert_array_equal(src, [[4, 7], [5, 0], [6, 0]])
    np.testing.assert_array_equal(src_lengths, [3, 1])
    np.testing.assert_array_equal(tgt_in, [[SOS_ID, SOS_ID], [8, 10], [9, 11], [0, 12]])
    np.testing.assert_array_equal(tgt_out, [[8, 10], [9, 11], [EOS_ID, 12], [0, EOS_ID]])
    np.testing.assert_array_equal(tgt_mask, [[1, 1], [1, 1], [1, 1], [0, 1]])
    assert tgt_mask.dtype == bool and tgt_out.dtype == np.int64
    assert batch.src is src and batch.tgt_out is tgt_out and batch.tgt_in is tgt_in
    np.testing.assert_array_equal(batch.tgt_lengths, [3, 4])
    assert batch.num_tokens == 7


def test_seq2seq_batches_cover_pairs(rng):
    pairs = [(list(rng.integers(4, 50, size=rng.integers(1, 12))),
              list(rng.integers(4, 50, size=rng.integers(0, 12)))) for _ in range(300)]
    batches = seq2seq_batches(pairs, batch_size=32, seed=1)
    got = sorted((tuple(b.src[:n, j]), tuple(b.tgt_out[:m - 1, j]))
                 for b in batches for j, (n, m) in enumerate(zip(b.src_lengths, b.tgt_lengths)))
    want = sorted((tuple(s), tuple(t)) for s, t in pairs)
    assert got == want
    again = seq2seq_batches(pairs, batch_size=32, seed=1)
    assert all(np.array_equal(x.src, y.src) for x, y in zip(batches, again))


# --- Tatoeba loader ----------------------------------------------------------------------

def _write(tmp_path, lines, name="pairs.txt"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _corpus_lines():
    lines = [f"Sentence number {i}.\tPhrase numéro {i}.\tCC-BY 2.0 (France) #{i}"
             for i in range(40)]
    lines += [f"Short {i}.\tCourt {i}." for i in range(40)]                  # 2 columns
    lines += ["This one is far too long to keep here.\tCelle-ci est beaucoup trop longue."]
    lines += ["Short 3.\tBref 3."]                                             # same source
    return lines


def test_tatoeba_read_columns_and_normalization(tmp_path):
    path = _write(tmp_path, ["Go.\tVa\u202f!\tattribution", "Cafe\u0301?\tCafé ?", ""])
    pairs = read_tatoeba(path)
    assert pairs == [("Go.", "Va\u202f!"), ("Café?", "Café ?")]
    assert read_tatoeba(path, reverse=True)[0] == ("Va\u202f!", "Go.")


def test_tatoeba_split_filter_and_determinism(tmp_path):
    path = _write(tmp_path, _corpus_lines())
    train, valid, test = load_tatoeba(path, max_len=5, seed=0, valid_size=10, test_size=0.25)
    sources = [s for split in (train, valid, test) for s, _ in split]
    assert "This one is far too long to keep here." not in sources   # 10 tokens > 5
    assert len(set(sources)) == 80
    assert len({s for s, _ in valid}) == 10 and len({s for s, _ in test}) == 20
    split_of = {}
    for name, split in (("train", train), ("valid", valid), ("test", test)):
        for s, _ in split:
            assert split_of.setdefault(s, name) == name, f"{s!r} is in two splits"
    assert len(train) + len(valid) + len(test) == 81                  # Short 3 twice
    assert load_tatoeba(path, max_len=5, seed=0, valid_size=10, test_size=0.25) == (
        train, valid, test)
    assert load_tatoeba(path, max_len=5, seed=1, valid_size=10, test_size=0.25).test != test
    deduped = load_tatoeba(path, max_len=5, seed=0, valid_size=10, test_size=0.25, dedupe=True)
    assert sum(map(len, deduped)) == 80
    everything = load_tatoeba(path, seed=0, valid_size=0, test_size=0)
    assert len(everything.train) == 82 and everything.valid == everything.test == []


def test_tatoeba_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="manythings"):
        read_tatoeba(tmp_path / "missing.txt")
    bad = _write(tmp_path, ["Hi.\tSalut.", "Hello.\tBonjour.", "no tab on this line"], "bad.txt")
    with pytest.raises(ValueError, match="line 3: expected 2 or 3"):
        load_tatoeba(bad)
    empty = _write(tmp_path, ["Hi.\tSalut.", "\tBonjour."], "empty.txt")
    with pytest.raises(ValueError, match="line 2: empty English"):
        read_tatoeba(empty)
    binary = tmp_path / "latin1.txt"
    binary.write_bytes("Hi.\tSalut.\nCaf\u00e9.\tCaf\u00e9.\n".encode("latin-1"))
    with pytest.raises(ValueError, match="line 2: not valid UTF-8"):
        read_tatoeba(binary)
    with pytest.raises(ValueError, match="only 2 remain"):
        load_tatoeba(_write(tmp_path, ["A.\tB.", "C.\tD."], "tiny.txt"), valid_size=2,
                     test_size=1)


# --- built-in English -> French corpus ---------------------------------------------------

def test_known_pairs():
    day = datetime.date(2026, 11, 22)
    assert date_phrase(day, "full") == ("Sunday, November 22, 2026", "dimanche 22 novembre 2026")
    assert date_phrase(day, "long") == ("November 22, 2026", "22 novembre 2026")
    assert date_phrase(day, "medium") == ("Nov 22, 2026", "22 nov. 2026")
    assert date_phrase(day, "month_day") == ("November 22", "22 novembre")
    assert date_phrase(day, "weekday_month_day") == ("Sunday, November 22",
                                                     "dimanche 22 novembre")
    assert number_phrase(21000) == ("twenty-one thousand", "vingt et un mille")
    assert number_phrase(77) == ("seventy-seven", "soixante-dix-sept")
    with pytest.raises(ValueError, match="style"):
        date_phrase(day, "short")


def test_builtin_corpus_deterministic_and_disjoint():
    splits = builtin_en_fr(n_train=600, n_valid=100, n_test=100, seed=0)
    assert tuple(map(len, splits)) == (600, 100, 100)
    assert builtin_en_fr(n_train=600, n_valid=100, n_test=100, seed=0) == splits
    assert builtin_en_fr(n_train=600, n_valid=100, n_test=100, seed=1).test != splits.test
    # the test set of a seed does not depend on how much training data is asked for
    assert builtin_en_fr(n_train=50, n_valid=100, n_test=100, seed=0).test == splits.test
    train, valid, test = ({en for en, _ in split} for split in splits)
    assert len(train) == 600 and len(valid) == 100 and len(test) == 100
    assert not train & test and not train & valid and not valid & test


def test_builtin_corpus_is_clean_and_learnable():
    train, _, _ = builtin_en_fr(n_train=1500, n_valid=0, n_test=0, seed=2)
    tok = WordTokenizer()
    french = WordTokenizer(french_spacing=True)
    src_vocab, tgt_vocab = set(), set()
    for en, fr in train:
        en_tokens, fr_tokens = tok.tokenize(en), tok.tokenize(fr)
        assert tok.detokenize(en_tokens) == en and french.detokenize(fr_tokens) == fr
        assert len(en_tokens) <= 16 and len(fr_tokens) <= 16, (en, fr)
        assert "  " not in en + fr and en == en.strip() and fr == fr.strip()
        src_vocab.update(en_tokens)
        tgt_vocab.update(fr_tokens)
    assert len(src_vocab) < 600 and len(tgt_vocab) < 600
    pairs = dict(train)
    assert any(fr.startswith("Aujourd'hui, nous sommes le ") for fr in pairs.values())
    assert any(" est née le " in fr for fr in pairs.values())
    assert any(" a lieu du " in fr for fr in pairs.values())
