"""Entity catalogs of the simulated world: artists, songs, films, shows, books, cities, teams, products...

Names are combined from the word lists in `vocab.py` with a fixed world seed, so every run of the
simulator (whatever its traffic seed) talks about the same world. Each entity carries what the other
stages need to misbehave in a recurring way:

- `aliases_known`: other names the assistant's entity resolver (ER) knows ("silver lanterns" for
  "the silver lanterns");
- `aliases_unknown`: partial titles and nicknames users say that ER does not know ("marlow" for
  "jenna marlow"); when such an alias is another entity's name, ER resolves the wrong entity;
- `confusion`: for a fraction of entities, the one fixed text ASR hears instead of the name;
- `result_bug`: for a few entities, fulfilment returns the wrong item (a cover version, a namesake).

Entities of each kind are listed in popularity order: first the head, which requests pick with a Zipf
law, then (for the kinds in `TAIL_SIZES`) a long tail of rare names (niche bands, old films, small
towns), which a share of requests (`SimConfig.long_tail_share`) pick uniformly, so that each is said
by few users. Tail entities fail the same ways head ones do; their names and aliases never collide
with a head surface (name, alias, confusion), so the head world is the same with or without a tail.

`personal` is the personal world (`personal.py`: contacts, playlists, named devices, small towns,
twin towns, near-namesake titles) when the run has one; its entities follow all others in `entities`
and are in no `by_kind` list, so nothing drawn by popularity changes with it.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from selflearn_assets.lib.simulator import vocab
from selflearn_assets.lib.simulator.text import plural, stable_unit, zipf_cumulative

if TYPE_CHECKING:
    from selflearn_assets.lib.simulator.personal import PersonalWorld

# fmt: off
OPEN_KINDS = ("artist", "song", "film", "show", "book", "city", "team", "product", "person", "landmark")
CLOSED_KINDS = ("genre", "cuisine", "topic", "room", "appliance", "duration", "time", "temperature", "news_source",
                "music_service")
# taught preferences a request relies on without naming them ("play the news": the user's news source); the
# assistant uses the first of each kind (its default) unless the request names one
AMBIENT_KINDS = ("news_source", "music_service")
SIZES = {"artist": 320, "song": 900, "film": 300, "show": 120, "book": 320, "city": 240, "team": 72,
         "person": 150, "landmark": 100}
SHARED_FILM_BOOK_TITLES = 45  # books that also exist as a film: "play <title>" is ambiguous
RESULT_BUG_KINDS = ("song", "city", "product", "person", "landmark")
ZIPF_EXPONENT = 1.05
# long-tail entities per kind, after the head (as many as the word lists allow, up to these)
TAIL_SIZES = {"artist": 2500, "song": 8000, "film": 1500, "show": 800, "book": 2500, "city": 150,
              "person": 1000, "landmark": 80, "product": 200}
# how names and titles are formed (a form listed twice is twice as frequent)
ARTIST_FORMS = ["the {adj} {nouns}", "the {adj} {nouns}", "{first} {last}", "{first} {last}", "{noun} {nouns}",
                "{first} {last} and the {nouns}", "{adj} {noun}"]
SONG_FORMS = ["{adj} {noun}", "{adj} {noun}", "{adj} {nouns}", "the {adj} {noun}", "{noun} of the {noun2}",
              "{nouns} in the {noun2}", "my {adj} {noun}", "{adj} {noun} {noun2}"]
FILM_FORMS = ["the {adj} {noun}", "{noun} of the {noun2}", "{adj} {noun}", "the {noun} of {root}",
              "return of the {noun}", "the last {noun}", "{first} and the {adj} {noun}"]
BOOK_FORMS = ["the {adj} {noun}", "{noun} of the {noun2}", "the {noun} of {root}", "a {adj} {noun}",
              "the {adj} {noun} of {root}", "{first} {last} and the {noun} of {noun2}"]
SHOW_FORMS = ["the {nouns}", "{root} {nouns}", "the {adj} {nouns}", "{nouns} of {root}", "{adj} {noun}"]
# fmt: on


class Entity:
    __slots__ = ("idx", "id", "kind", "name", "display", "aliases_known", "aliases_unknown", "confusion",
                 "result_bug", "parent")  # fmt: skip

    def __init__(self, idx: int, kind: str, rank: int, name: str) -> None:
        self.idx = idx
        self.id = f"{kind}:{rank:04d}"
        self.kind = kind
        self.name = name
        self.display = name.title()
        self.aliases_known: list[str] = []
        self.aliases_unknown: list[str] = []
        self.confusion: str | None = None
        self.result_bug = False
        self.parent: int | None = None  # a song's artist

    def __repr__(self) -> str:
        return f"Entity({self.id!r}, {self.name!r})"


@dataclass
class Catalog:
    entities: list[Entity] = field(default_factory=list)
    by_kind: dict[str, list[int]] = field(default_factory=dict)  # popularity order
    zipf: dict[str, list[float]] = field(default_factory=dict)
    by_name: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, name) -> idx
    head_size: dict[str, int] = field(default_factory=dict)  # by_kind[kind][head_size[kind]:] is the tail
    personal: PersonalWorld | None = None  # `personal.extend_catalog`

    def add(self, kind: str, name: str) -> Entity:
        ent = Entity(len(self.entities), kind, len(self.by_kind.setdefault(kind, [])), name)
        self.entities.append(ent)
        self.by_kind[kind].append(ent.idx)
        self.by_name[(kind, name)] = ent.idx
        return ent

    def get(self, kind: str, name: str) -> Entity:
        return self.entities[self.by_name[(kind, name)]]


def _titles(rng: random.Random, n: int, used: set[str], forms: list[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        form = rng.choice(forms)
        name = form.format(
            adj=rng.choice(vocab.ADJECTIVES),
            adj2=rng.choice(vocab.ADJECTIVES),
            noun=rng.choice(vocab.NOUNS),
            noun2=rng.choice(vocab.NOUNS),
            nouns=plural(rng.choice(vocab.NOUNS), vocab.IRREGULAR_PLURALS),
            first=rng.choice(vocab.FIRST_NAMES),
            last=rng.choice(vocab.LAST_NAMES),
            root=rng.choice(vocab.CITY_ROOTS),
        )
        words = name.split()
        if len(set(words)) < len(words) or name in used or " by " in f" {name} ":
            continue
        used.add(name)
        out.append(name)
    return out


def _title_aliases(ent: Entity) -> None:
    """Known alias: the title without a leading "the". Unknown: a partial or misremembered title."""
    words = ent.name.split()
    if words[0] == "the" and len(words) > 2:
        ent.aliases_known.append(" ".join(words[1:]))
    if len(words) >= 4 and words[1] not in _FUNCTION_WORDS:
        ent.aliases_unknown.append(" ".join(words[:2]))
    else:
        flipped = _flip_number(words[-1])
        if flipped:
            ent.aliases_unknown.append(" ".join([*words[:-1], flipped]))


_FUNCTION_WORDS = {"of", "and", "the", "in", "a"}
_PLURALS = {plural(n, vocab.IRREGULAR_PLURALS): n for n in vocab.NOUNS}
_NOUNS = frozenset(vocab.NOUNS)


def _flip_number(word: str) -> str | None:
    """ "lantern" -> "lanterns" and back: how people misremember a title."""
    if word in _PLURALS:
        return _PLURALS[word]
    if word in _NOUNS:
        return plural(word, vocab.IRREGULAR_PLURALS)
    return None


def _artist_aliases(ent: Entity) -> None:
    """Bands without "the" (known) or by their last word (unknown); singers by their last name."""
    name = ent.name
    words = name.split()
    if words[0] == "the":
        ent.aliases_known.append(" ".join(words[1:]))
        ent.aliases_unknown.append("the " + words[-1])
    elif " and the " in name:
        ent.aliases_unknown.append(name.split(" and the ")[0])
    elif len(words) == 2 and words[0] in vocab.FIRST_NAMES:
        _person_aliases(ent)
    elif name == "imagine dragons":
        ent.aliases_unknown.append("the dragons")


def _person_aliases(ent: Entity) -> None:
    """People are called by their last name, which ER does not resolve."""
    ent.aliases_unknown.append(ent.name.split()[1])


def _confusion_for(name: str, u: float) -> str | None:
    """The name with one of its words (picked by `u` in [0, 1)) replaced by what ASR hears instead."""
    words = name.split()
    candidates = [i for i, w in enumerate(words) if w in vocab.CONFUSIONS and w != "the"]
    if not candidates:
        return None
    i = candidates[int(u * len(candidates))]
    wrong = " ".join(words[:i] + [vocab.CONFUSIONS[words[i]]] + words[i + 1 :])
    return wrong if wrong != name else None


def build_catalog(world_seed: int, confusable_fraction: float, result_bug_fraction: float) -> Catalog:
    """All entities of the world; deterministic for (world_seed, fractions)."""
    rng = random.Random(world_seed)
    cat = Catalog()
    used: set[str] = set(vocab.GENRES) | set(vocab.CUISINES) | set(vocab.APPLIANCES) | set(vocab.ROOMS)

    # music: a few well-known heads, then generated bands and singers
    heads = ["imagine dragons", "the silver lanterns", "jenna marlow", "the electric foxes"]
    used.update(heads)
    artists = heads + _titles(rng, SIZES["artist"] - len(heads), used, ARTIST_FORMS)
    for name in artists:
        _artist_aliases(cat.add("artist", name))

    for name in _titles(rng, SIZES["song"], used, SONG_FORMS):
        ent = cat.add("song", name)
        _title_aliases(ent)
        ent.parent = cat.by_kind["artist"][min(int(rng.paretovariate(1.1)) - 1, SIZES["artist"] - 1)]

    # films and books share some titles (adaptations), which is what makes "play <title>" ambiguous
    film_titles = ["harry potter"] + _titles(rng, SIZES["film"] - 1, used, FILM_FORMS)
    shared = film_titles[:SHARED_FILM_BOOK_TITLES]
    book_titles = shared + _titles(rng, SIZES["book"] - len(shared), used, BOOK_FORMS)
    rng.shuffle(book_titles)
    book_titles.remove("harry potter")
    book_titles.insert(0, "harry potter")
    for kind, titles in (("film", film_titles), ("book", book_titles)):
        for name in titles:
            _title_aliases(cat.add(kind, name))
    for name in _titles(rng, SIZES["show"], used, SHOW_FORMS):
        _title_aliases(cat.add("show", name))

    cities = [f"{p} {r}" for p in vocab.CITY_PREFIXES for r in vocab.CITY_ROOTS] + list(vocab.CITY_ROOTS)
    rng.shuffle(cities)
    for name in cities[: SIZES["city"]]:
        ent = cat.add("city", name)
        if " " in name:
            ent.aliases_unknown.append(name.split(" ", 1)[1])
    teams = [f"{r} {m}" for r in vocab.CITY_ROOTS for m in vocab.MASCOTS]
    rng.shuffle(teams)
    teams = ["oakridge warriors"] + [t for t in teams if t != "oakridge warriors"]
    for name in teams[: SIZES["team"]]:
        cat.add("team", name).aliases_known.append(name.split(" ", 1)[1])
    for name in _titles(rng, SIZES["person"], used, ["{first} {last}"]):
        _person_aliases(cat.add("person", name))
    for name in _titles(rng, SIZES["landmark"], used, vocab.LANDMARK_FORMS):
        _title_aliases(cat.add("landmark", name))
    products = list(vocab.PRODUCT_ITEMS) + [
        f"{b} {i}" for b in vocab.BRANDS for i in vocab.PRODUCT_ITEMS[:16]
    ]
    for name in products:
        cat.add("product", name)

    for kind, values in (
        ("genre", vocab.GENRES),
        ("cuisine", vocab.CUISINES),
        ("topic", vocab.NEWS_TOPICS),
        ("room", vocab.ROOMS),
        ("appliance", vocab.APPLIANCES),
        ("duration", [_duration(m) for m in vocab.TIMER_MINUTES]),
        (
            "time",
            [f"{vocab.NUMBER_WORDS[h]} {m}" for h in vocab.ALARM_HOURS for m in ("am", "thirty am", "pm")],
        ),
        ("temperature", [f"{vocab.NUMBER_WORDS[d]} degrees" for d in vocab.THERMOSTAT_DEGREES]),
    ):
        for name in values:
            cat.add(kind, name)

    # fixed failure properties, the same for every user, hashed so that a larger fraction extends a
    # smaller one's set. ASR mishears a name (entities sharing a name share it); fulfilment bugs live
    # in the tail (a head item's bug would have been fixed)
    for ent in cat.entities:
        if ent.name in vocab.HEAD_CONFUSIONS and confusable_fraction > 0:
            ent.confusion = vocab.HEAD_CONFUSIONS[ent.name]
        elif ent.kind in OPEN_KINDS:
            if stable_unit(world_seed, "confusable", ent.name) < confusable_fraction:
                ent.confusion = _confusion_for(ent.name, stable_unit(world_seed, "confused word", ent.name))
        if ent.kind in RESULT_BUG_KINDS and int(ent.id.split(":")[1]) >= 5:
            ent.result_bug = stable_unit(world_seed, "result bug", ent.id) < result_bug_fraction
    for kind, idxs in cat.by_kind.items():
        cat.head_size[kind] = len(idxs)
        cat.zipf[kind] = zipf_cumulative(len(idxs), ZIPF_EXPONENT)
    _add_tail(cat, world_seed, confusable_fraction, result_bug_fraction)
    # after the tail, so that no earlier entity's index moves
    for kind, values in (("news_source", vocab.NEWS_SOURCES), ("music_service", vocab.MUSIC_SERVICES)):
        for name in values:
            cat.add(kind, name)
        cat.head_size[kind] = len(values)
        cat.zipf[kind] = zipf_cumulative(len(values), ZIPF_EXPONENT)
    return cat


def _add_tail(cat: Catalog, world_seed: int, confusable_fraction: float, result_bug_fraction: float) -> None:
    """Append the long tail of each kind in `TAIL_SIZES` (its own rng: the head does not depend on it)."""
    rng = random.Random(f"{world_seed}/tail")
    taken = set(vocab.GENRES) | set(vocab.CUISINES) | set(vocab.APPLIANCES) | set(vocab.ROOMS)
    for ent in cat.entities:
        taken.update((ent.name, *ent.aliases_known, *ent.aliases_unknown))
        if ent.confusion:
            taken.add(ent.confusion)
    forms = {"artist": ARTIST_FORMS, "song": SONG_FORMS, "film": FILM_FORMS, "show": SHOW_FORMS,
             "book": BOOK_FORMS, "person": ["{first} {last}"], "landmark": vocab.LANDMARK_FORMS}  # fmt: skip
    cities = [f"{p} {r}" for p in vocab.CITY_PREFIXES for r in vocab.CITY_ROOTS] + list(vocab.CITY_ROOTS)
    products = [f"{b} {i}" for b in vocab.BRANDS for i in vocab.PRODUCT_ITEMS[16:]]
    for kind, size in TAIL_SIZES.items():
        if kind in forms:
            names = _tail_titles(rng, _possible(forms[kind], size, taken), taken, forms[kind])
        else:
            names = [n for n in (cities if kind == "city" else products) if n not in taken][:size]
            taken.update(names)
        for name in names:
            ent = cat.add(kind, name)
            if kind == "artist":
                _artist_aliases(ent)
            elif kind == "person":
                _person_aliases(ent)
            elif kind == "city" and " " in name:
                ent.aliases_unknown.append(name.split(" ", 1)[1])
            elif kind != "product":
                _title_aliases(ent)
            ent.aliases_known = [a for a in ent.aliases_known if a not in taken]
            ent.aliases_unknown = [a for a in ent.aliases_unknown if a not in taken]
            taken.update(ent.aliases_known)
            taken.update(ent.aliases_unknown)
            # fixed per entity whatever the fractions, like the head's hashes (cheaper: the tail is large)
            confusable, word, bug = rng.random(), rng.random(), rng.random()
            if confusable < confusable_fraction:
                ent.confusion = _confusion_for(name, word)
            ent.result_bug = kind in RESULT_BUG_KINDS and bug < result_bug_fraction
            if kind == "song":
                artists = cat.by_kind["artist"]
                ent.parent = artists[int(rng.random() * len(artists))]  # a rare song, by any artist


_WORDS = {"adj": vocab.ADJECTIVES, "adj2": vocab.ADJECTIVES, "noun": vocab.NOUNS, "noun2": vocab.NOUNS,
          "nouns": [plural(n, vocab.IRREGULAR_PLURALS) for n in vocab.NOUNS], "first": vocab.FIRST_NAMES,
          "last": vocab.LAST_NAMES, "root": vocab.CITY_ROOTS}  # fmt: skip


def _tail_titles(rng: random.Random, n: int, used: set[str], forms: list[str]) -> list[str]:
    """Like `_titles` (the same forms and rules), drawing only the words a form uses: the tail is large."""
    parsed = [(f, [(k, _WORDS[k]) for _, k, _, _ in string.Formatter().parse(f) if k]) for f in forms]
    rand = rng.random
    out: list[str] = []
    while len(out) < n:
        form, fields = parsed[int(rand() * len(parsed))]
        name = form.format_map({k: words[int(rand() * len(words))] for k, words in fields})
        words = name.split()
        if len(set(words)) < len(words) or name in used or " by " in f" {name} ":
            continue
        used.add(name)
        out.append(name)
    return out


def _possible(forms: list[str], wanted: int, taken: set[str]) -> int:
    """How many new names `_titles` can still make from `forms` (at most `wanted`), so it never loops forever."""
    if forms == ["{first} {last}"]:
        free = sum(f"{a} {b}" not in taken for a in vocab.FIRST_NAMES for b in vocab.LAST_NAMES)
        return min(wanted, free * 3 // 4)
    if forms is vocab.LANDMARK_FORMS:
        free = sum(f.format(root=r) not in taken for f in forms for r in vocab.CITY_ROOTS)
        return min(wanted, free * 3 // 4)
    return wanted


def _duration(minutes: int) -> str:
    if minutes == 90:
        return "an hour and a half"
    if minutes == 60:
        return "an hour"
    words = vocab.NUMBER_WORDS[minutes]
    return f"{words} minute" if minutes == 1 else f"{words} minutes"
