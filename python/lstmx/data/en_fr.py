"""A built-in English -> French corpus, generated, so translation runs with no download.

    >>> train, valid, test = builtin_en_fr(n_train=20000, n_valid=1000, n_test=1000, seed=0)
    >>> import datetime
    >>> date_phrase(datetime.date(2026, 11, 22), "full")
    ('Sunday, November 22, 2026', 'dimanche 22 novembre 2026')

How it is made. Every pair comes from one of the generators below, drawn with the weights
of ``KINDS``. Month and weekday names and the date layouts are CLDR's, through Babel
(``en_US`` and ``fr_FR``); numbers are spelled by num2words (``lang="en"``/``"fr"``); the
sentence frames are small hand-written tables whose French is exact (agreement of *né/née*,
elision of *l'*/*j'*, masculine counted nouns so *vingt et un* never needs *une*).

==================  =========================================================
kind                English / French
==================  =========================================================
date_full           Sunday, November 22, 2026
                    dimanche 22 novembre 2026
date_long           November 22, 2026 / 22 novembre 2026
date_medium         Nov 22, 2026 / 22 nov. 2026
month_day           November 22 / 22 novembre
weekday_month_day   Sunday, November 22 / dimanche 22 novembre
number              twenty-one thousand / vingt et un mille
today               Today is Sunday, November 22, 2026.
                    Aujourd'hui, nous sommes le dimanche 22 novembre 2026.
event_on            The meeting is on Sunday, November 22.
                    La réunion a lieu le dimanche 22 novembre.
event_was           The exam was on November 22, 2026.
                    L'examen a eu lieu le 22 novembre 2026.
event_range         The festival is from November 22 to December 3.
                    Le festival a lieu du 22 novembre au 3 décembre.
born                My sister was born on May 3, 1990.
                    Ma sœur est née le 3 mai 1990.
age                 My father is forty-five years old.
                    Mon père a quarante-cinq ans.
objects             We bought twenty-one red books.
                    Nous avons acheté vingt et un livres rouges.
price               The watch costs two hundred euros.
                    La montre coûte deux cents euros.
arrival             They will arrive in three days.
                    Ils arriveront dans trois jours.
==================  =========================================================

The mappings are systematic but not word-for-word: day and month swap places, adjectives
move behind nouns, *seventy-seven* becomes *soixante-dix-sept*, *is on* becomes *a lieu le*,
so an attention model has real alignment to learn. Sentences stay short (at most about 15
word tokens) and the vocabulary moderate (a few hundred words a side); dates fall in
1950-2030, so years and days are copied digits; bare numbers go up to 9 999, plus round
thousands up to 999 000.

Splits. Pairs are drawn with ``random.Random(seed)`` (only ``random()`` calls, whose stream
Python keeps stable across versions) until there are ``n_test + n_valid + n_train`` distinct
English sentences; the first ``n_test`` drawn form the test set, the next ``n_valid`` the
validation set, the rest the training set. No English sentence is in two splits, and the
test set of a seed does not depend on ``n_train``. Whitespace from CLDR (no-break spaces) is
normalized to plain spaces. The text comes from the installed Babel (CLDR) and num2words
data: a release that changed a month name or a number's spelling would change the pairs.
"""

from __future__ import annotations

import datetime
import functools
import random

from .tatoeba import Splits

_FIRST_DAY = datetime.date(1950, 1, 1).toordinal()
_LAST_DAY = datetime.date(2030, 12, 31).toordinal()

# (en format or pattern, fr format or pattern): CLDR's named formats, or patterns over
# CLDR's month and weekday names in each locale's own order.
_DATE_STYLES = {
    "full": ("full", "full"),
    "long": ("long", "long"),
    "medium": ("medium", "medium"),
    "month_day": ("MMMM d", "d MMMM"),
    "weekday_month_day": ("EEEE, MMMM d", "EEEE d MMMM"),
}

# People: (English, French, grammatical gender of the French).
_PEOPLE = [
    ("My father", "Mon père", "m"), ("My mother", "Ma mère", "f"),
    ("My brother", "Mon frère", "m"), ("My sister", "Ma sœur", "f"),
    ("My son", "Mon fils", "m"), ("My daughter", "Ma fille", "f"),
    ("My grandfather", "Mon grand-père", "m"), ("My grandmother", "Ma grand-mère", "f"),
    ("My uncle", "Mon oncle", "m"), ("My aunt", "Ma tante", "f"),
    ("He", "Il", "m"), ("She", "Elle", "f"),
    ("Tom", "Tom", "m"), ("Mary", "Marie", "f"), ("Peter", "Pierre", "m"),
    ("Julie", "Julie", "f"), ("Paul", "Paul", "m"), ("Emma", "Emma", "f"),
]

# Subjects with their French present of *avoir* and future of *arriver*; people (third
# person singular) are added below.
_PRONOUNS = [
    ("I", "J'ai", "J'arriverai"), ("You", "Vous avez", "Vous arriverez"),
    ("We", "Nous avons", "Nous arriverons"), ("They", "Ils ont", "Ils arriveront"),
]
_SUBJECTS = _PRONOUNS + [(en, f"{fr} a", f"{fr} arrivera") for en, fr, _ in _PEOPLE]

_EVENTS = [
    ("meeting", "La réunion"), ("concert", "Le concert"), ("party", "La fête"),
    ("exam", "L'examen"), ("wedding", "Le mariage"), ("flight", "Le vol"),
    ("match", "Le match"), ("interview", "L'entretien"), ("festival", "Le festival"),
    ("conference", "La conférence"), ("exhibition", "L'exposition"), ("trip", "Le voyage"),
    ("show", "Le spectacle"), ("dinner", "Le dîner"), ("ceremony", "La cérémonie"),
    ("appointment", "Le rendez-vous"),
]

_VERBS = [
    ("bought", "acheté"), ("sold", "vendu"), ("found", "trouvé"), ("saw", "vu"),
    ("ordered", "commandé"), ("received", "reçu"), ("lost", "perdu"), ("painted", "peint"),
]

# Masculine plural nouns, so French numbers ending in *un* agree.
_OBJECTS = [
    ("books", "livres"), ("pens", "stylos"), ("tickets", "billets"), ("cakes", "gâteaux"),
    ("cats", "chats"), ("dogs", "chiens"), ("birds", "oiseaux"), ("glasses", "verres"),
    ("hats", "chapeaux"), ("boats", "bateaux"), ("balloons", "ballons"),
    ("coats", "manteaux"), ("eggs", "œufs"), ("trucks", "camions"),
    ("bicycles", "vélos"), ("toys", "jouets"),
]

# Colours in the masculine plural; French puts them after the noun.
_COLOURS = [
    ("red", "rouges"), ("green", "verts"), ("blue", "bleus"), ("black", "noirs"),
    ("white", "blancs"), ("yellow", "jaunes"), ("gray", "gris"), ("brown", "marron"),
]

_ITEMS = [
    ("book", "Le livre"), ("ticket", "Le billet"), ("coat", "Le manteau"),
    ("bicycle", "Le vélo"), ("phone", "Le téléphone"), ("computer", "L'ordinateur"),
    ("umbrella", "Le parapluie"), ("bag", "Le sac"), ("watch", "La montre"),
    ("lamp", "La lampe"), ("table", "La table"), ("chair", "La chaise"),
    ("car", "La voiture"), ("house", "La maison"), ("guitar", "La guitare"),
    ("ring", "La bague"),
]

_CURRENCIES = [("euros", "euros"), ("dollars", "dollars")]
_UNITS = [("days", "jours"), ("months", "mois"), ("years", "ans")]


@functools.lru_cache(maxsize=None)
def _format(day_ordinal, style, locale):
    from babel.dates import format_date  # imported on first use: lstmx.data loads fast

    fmt = _DATE_STYLES[style][0 if locale == "en_US" else 1]
    text = format_date(datetime.date.fromordinal(day_ordinal), format=fmt, locale=locale)
    return " ".join(text.split())


def date_phrase(day: datetime.date, style: str) -> tuple[str, str]:
    """``datetime.date`` -> (English, French) in one of the styles of ``_DATE_STYLES``:
    ``"full"``, ``"long"``, ``"medium"``, ``"month_day"``, ``"weekday_month_day"``."""
    if style not in _DATE_STYLES:
        raise ValueError(f"style must be one of {sorted(_DATE_STYLES)}, got {style!r}")
    return _format(day.toordinal(), style, "en_US"), _format(day.toordinal(), style, "fr_FR")


@functools.lru_cache(maxsize=None)
def number_phrase(n: int) -> tuple[str, str]:
    """Non-negative int -> (English words, French words), e.g. 21000 ->
    ('twenty-one thousand', 'vingt et un mille')."""
    from num2words import num2words

    return num2words(n, lang="en"), num2words(n, lang="fr")


def _pick(rng, seq):
    return seq[int(rng.random() * len(seq))]


def _int(rng, low, high):
    """Uniform int in [low, high]."""
    return low + int(rng.random() * (high - low + 1))


def _day(rng):
    return datetime.date.fromordinal(_int(rng, _FIRST_DAY, _LAST_DAY))


def _amount(rng):
    """A number up to 9 999, or a round number of thousands up to 999 000; each of the four
    bands (two digits, three, four, thousands) equally likely."""
    band = _int(rng, 0, 3)
    if band == 3:
        return 1000 * _int(rng, 10, 999)
    low, high = [(0, 99), (100, 999), (1000, 9999)][band]
    return _int(rng, low, high)


def _date_kind(style):
    def generate(rng):
        return date_phrase(_day(rng), style)
    return generate


def _number(rng):
    return number_phrase(_amount(rng))


def _today(rng):
    en, fr = date_phrase(_day(rng), "full")
    return f"Today is {en}.", f"Aujourd'hui, nous sommes le {fr}."


def _event_on(rng):
    (ev_en, ev_fr), (en, fr) = _pick(rng, _EVENTS), date_phrase(_day(rng), "weekday_month_day")
    return f"The {ev_en} is on {en}.", f"{ev_fr} a lieu le {fr}."


def _event_was(rng):
    (ev_en, ev_fr), (en, fr) = _pick(rng, _EVENTS), date_phrase(_day(rng), "long")
    return f"The {ev_en} was on {en}.", f"{ev_fr} a eu lieu le {fr}."


def _event_range(rng):
    ev_en, ev_fr = _pick(rng, _EVENTS)
    first = _day(rng)
    last = first + datetime.timedelta(days=_int(rng, 1, 20))
    (en1, fr1), (en2, fr2) = date_phrase(first, "month_day"), date_phrase(last, "month_day")
    return (f"The {ev_en} is from {en1} to {en2}.", f"{ev_fr} a lieu du {fr1} au {fr2}.")


def _born(rng):
    (p_en, p_fr, gender), (en, fr) = _pick(rng, _PEOPLE), date_phrase(_day(rng), "long")
    born = "née" if gender == "f" else "né"
    return f"{p_en} was born on {en}.", f"{p_fr} est {born} le {fr}."


def _age(rng):
    (p_en, p_fr, _), (n_en, n_fr) = _pick(rng, _PEOPLE), number_phrase(_int(rng, 2, 99))
    return f"{p_en} is {n_en} years old.", f"{p_fr} a {n_fr} ans."


def _objects(rng):
    s_en, s_fr, _ = _pick(rng, _SUBJECTS)
    v_en, v_fr = _pick(rng, _VERBS)
    n_en, n_fr = number_phrase(_int(rng, 2, 99))
    o_en, o_fr = _pick(rng, _OBJECTS)
    if rng.random() < 0.5:
        c_en, c_fr = _pick(rng, _COLOURS)
        o_en, o_fr = f"{c_en} {o_en}", f"{o_fr} {c_fr}"
    return f"{s_en} {v_en} {n_en} {o_en}.", f"{s_fr} {v_fr} {n_fr} {o_fr}."


def _price(rng):
    (i_en, i_fr), (c_en, c_fr) = _pick(rng, _ITEMS), _pick(rng, _CURRENCIES)
    n_en, n_fr = number_phrase(_int(rng, 2, 2000))
    return f"The {i_en} costs {n_en} {c_en}.", f"{i_fr} coûte {n_fr} {c_fr}."


def _arrival(rng):
    (s_en, _, s_fr), (u_en, u_fr) = _pick(rng, _SUBJECTS), _pick(rng, _UNITS)
    n_en, n_fr = number_phrase(_int(rng, 2, 30))
    return f"{s_en} will arrive in {n_en} {u_en}.", f"{s_fr} dans {n_fr} {u_fr}."


# (name, weight, generator rng -> (English, French)).
KINDS = [
    ("date_full", 6, _date_kind("full")),
    ("date_long", 5, _date_kind("long")),
    ("date_medium", 5, _date_kind("medium")),
    ("month_day", 4, _date_kind("month_day")),
    ("weekday_month_day", 4, _date_kind("weekday_month_day")),
    ("number", 12, _number),
    ("today", 6, _today),
    ("event_on", 9, _event_on),
    ("event_was", 7, _event_was),
    ("event_range", 7, _event_range),
    ("born", 8, _born),
    ("age", 7, _age),
    ("objects", 12, _objects),
    ("price", 8, _price),
    ("arrival", 5, _arrival),
]


def generate_pairs(n: int, seed: int | None = 0) -> list[tuple[str, str]]:
    """``n`` distinct-English (English, French) pairs in drawing order (see the module
    docstring)."""
    rng = random.Random(seed)
    total = sum(w for _, w, _ in KINDS)
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for _ in range(50 * n + 100):
        if len(pairs) == n:
            return pairs
        r = rng.random() * total
        for _, weight, generate in KINDS:
            r -= weight
            if r < 0:
                break
        en, fr = generate(rng)
        if en not in seen:
            seen.add(en)
            pairs.append((en, fr))
    if len(pairs) < n:
        raise ValueError(f"could not draw {n} distinct pairs (got {len(pairs)}); "
                         f"ask for fewer")
    return pairs


def builtin_en_fr(n_train: int = 20000, n_valid: int = 1000, n_test: int = 1000,
                  seed: int | None = 0) -> Splits:
    """The generated English -> French corpus: ``Splits(train, valid, test)``, each a list of
    (English, French) string pairs with no English sentence in two splits.

    Same arguments, same lists. See the module docstring for what the pairs look like.
    """
    for name, value in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    pairs = generate_pairs(n_test + n_valid + n_train, seed)
    return Splits(train=pairs[n_test + n_valid:], valid=pairs[n_test:n_test + n_valid],
                  test=pairs[:n_test])
