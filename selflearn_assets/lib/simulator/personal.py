"""Personal error sources: each user's own contacts, playlists, device names and places, and the
recurring errors on them that only a layer knowing the user can fix.

The world (`extend_catalog`, built with the catalog when `SimConfig.personal_share` > 0) adds, from
large name spaces so that each value is held by few users:

- contacts ("tavin kessler"), playlists ("velvet harbor jams") and named smart-home devices
  ("reading nook lamp"): entities of the kinds in `nlu.PERSONAL_KINDS`, which ER resolves per user, from
  the user's own registry (a contact by its full name or, where it is unique in the user's contacts,
  its given name), never for another user;
- small towns ("vayville mills"), ordinary city entities everyone's ER knows;
- towns that exist in two states (`TWIN_TOWNS`): "wilkerson washington" (popular) and "wilkerson
  california" (rare), both also called "wilkerson", which ER resolves to the popular one;
- near-namesake titles: for some popular songs and films, a rare one whose title differs in one word
  chosen to be close in spelling ("light of the kite" -> "night of the kite").

A user (`Profiles.of`, fixed per (seed, user)) has 2-6 contacts, up to 3 playlists and named devices,
1-2 habitual places and, with `namesake_share`, a twin town among their places (the rare twin with
probability `RARE_TWIN`) and a liked near-namesake title; each thing with its own habitual phrasing.
For a share `personal_error_fraction` of the user's contacts, playlists, devices and towns the user
has a recurring error, half of each kind:

- an accent mishearing: ASR hears the name one fixed way for this user ("tavin" -> "taveen"; the user's
  accent is an order of `ACCENT_RULES`, so two users with one name may be misheard differently); it
  fires with probability `MISHEAR` when said habitually, `CAREFUL_MISHEAR` when said carefully;
- a habitual short form ER does not know: a nickname ("tav"), a playlist's first two words, a
  device's name without its first word, a town without its suffix; said at a goal's first attempt
  with probability `HABIT`.

A user whose place is a rare twin says the bare name (`HABIT`) and hears about the popular one: a
result-stage failure whose gold intended text names the state; users of the popular twin are served
right by the same words. Near-namesake titles are said correctly and served right. On a retry the
user says the name carefully or in full (the state, the full contact name), so their successful
rephrase is in their own history.
"""

from __future__ import annotations

import random
import re
from itertools import chain

from selflearn_assets.lib.simulator import vocab
from selflearn_assets.lib.simulator.catalog import Catalog, Entity
from selflearn_assets.lib.simulator.intents import INTENT_BY_KEY, PERSONAL_INTENT_BY_KEY, Intent
from selflearn_assets.lib.simulator.text import cumulative, mix64, pick_cumulative, plural, stable_int

HABIT = 0.9  # P(the user says their habitual form of a name at a goal's first attempt)
MISHEAR = 0.9  # P(the user's accent mishearing fires when they say the name habitually)
CAREFUL_MISHEAR = 0.1  # ... and when they say it carefully (a retry)
RARE_TWIN = 0.25  # P(a user with a twin town lives with the rare one)
REWORD = 0.4  # P(a retry of a personal request is reworded; else the same words, said carefully)

# fmt: off
_ONSETS = ["b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "ch",
           "cl", "dr", "fl", "gr", "kr", "sh", "st", "tr", "th", "c", "y"]
_NUCLEI = ["a", "e", "i", "o", "u", "a", "e", "i", "o", "ai", "ee", "ia", "ou", "ay"]
_MIDS = ["b", "d", "l", "m", "n", "r", "s", "t", "v", "z", "nd", "ll", "rr", "ss", "tt", "nn", "rl", "th",
         "k", "x"]
_ENDS = ["a", "e", "i", "o", "y", "ie", "ah", "an", "en", "in", "on", "el", "er", "is", "us", "ia", "ette",
         "ine"]
_SURNAME_ENDS = ["son", "man", "ley", "ford", "er", "ton", "well", "ridge", "by", "wick"]
_TOWN_ENDS = ["ton", "ville", "burg", "field", "wood", "ford", "dale", "port", "ham", "worth", "bury", "stead",
              "wick", "more", "den"]
_TOWN_SUFFIXES = ["falls", "springs", "junction", "creek", "hollow", "heights", "crossing", "bluff", "landing",
                  "grove", "mills", "ridge", "center"]
_PLAYLIST_ENDS = ["mix", "jams", "vibes", "tunes", "hits", "songs", "radio", "faves", "bangers", "classics"]
_DEVICE_MODIFIERS = ["reading", "left", "right", "upstairs", "downstairs", "back", "front", "big", "little",
                     "old", "tall", "kids", "guest", "corner", "window", "night", "accent", "main", "side",
                     "mood", "spare", "craft", "piano", "baby", "sunroom", "patio", "attic", "nursery",
                     "den", "study"]
_DEVICE_PLACES = ["nook", "desk", "shelf", "bookcase", "mantel", "tank", "crib", "sofa", "couch", "bar",
                  "cabinet", "stairs", "closet", "vanity", "mirror", "counter", "bench", "easel", "workbench",
                  "aquarium", "dresser", "nightstand", "wardrobe", "archway", "alcove", "loft", "deck",
                  "pergola", "tree", "bunk"]
_DEVICE_NOUNS = ["lamp", "light", "lights", "fan", "heater", "plug", "strip", "sconce", "bulb", "lantern"]
# town name -> (the popular state, the rare one)
TWIN_TOWNS = [
    ("wilkerson", "washington", "california"), ("brantley", "texas", "ohio"), ("colfax", "iowa", "oregon"),
    ("dorrance", "kansas", "maine"), ("farrell", "pennsylvania", "nevada"), ("galloway", "new jersey", "utah"),
    ("hendry", "florida", "montana"), ("kimball", "nebraska", "vermont"), ("lockhart", "texas", "alabama"),
    ("merritt", "michigan", "idaho"), ("newberg", "oregon", "georgia"), ("orland", "california", "indiana"),
    ("pendleton", "oregon", "kentucky"), ("radford", "virginia", "arizona"), ("selby", "south dakota", "ohio"),
    ("tillman", "oklahoma", "wyoming"),
]
NAMESAKE_SONGS, NAMESAKE_FILMS = 16, 8  # near-namesake pairs among the most popular songs and films
SIZES = {"given": 3000, "town_root": 1200, "town": 2400}  # contacts: given x surnames (~780k)
# A speaker's accent on names: word-level rewrites, tried in the user's own order (the first that
# applies to some word of the name is how ASR hears it from this user).
ACCENT_RULES = [
    (re.compile(r"ph"), "f"), (re.compile(r"ck"), "k"), (re.compile(r"c(?=[aou])"), "k"),
    (re.compile(r"k"), "c"), (re.compile(r"ee"), "ea"), (re.compile(r"(?<=[^aeiou])y$"), "ie"),
    (re.compile(r"ie$"), "y"), (re.compile(r"th"), "t"), (re.compile(r"v"), "b"), (re.compile(r"w"), "v"),
    (re.compile(r"s(?=[aeiou])"), "z"), (re.compile(r"er$"), "a"), (re.compile(r"(?<=[^aeiou])a$"), "er"),
    (re.compile(r"([bdfgklmnprst])\1"), r"\1"), (re.compile(r"(?<=[aeiou])([bdglmnprt])(?=[aeiou])"), r"\1\1"),
    (re.compile(r"^h(?=[aeiou])"), ""), (re.compile(r"i(?=[^aeiou]+$)"), "ee"), (re.compile(r"ing$"), "in"),
    (re.compile(r"o(?=[^aeiou]+$)"), "a"), (re.compile(r"^([^aeiou]*[aeiou]+[^aeiou]+)(?=[aeiou]..)"), r"\1 "),
]
# fmt: on
_ADJS = vocab.ADJECTIVES
_NOUNS = [*vocab.NOUNS, *(plural(n, vocab.IRREGULAR_PLURALS) for n in vocab.NOUNS)]
_TRIPLE = re.compile(r"(.)\1\1")


class PersonalWorld:
    """The personal part of the world. Towns, twin towns and near-namesake titles are catalog entities
    from the start. Contacts, playlists and devices are name spaces (`sizes`, `name_of`): the name at
    a position becomes an entity (`entity`) when a user first has it, so the spaces cost
    nothing until used (no record depends on the order entities are made in: their ids are their
    positions, and ER finds them only through a user's registry)."""

    def __init__(self, cat: Catalog, world_seed: int) -> None:
        self.cat = cat
        self.first_idx = len(cat.entities)  # catalog.entities[first_idx:] are this world's entities
        self.sizes = {  # positions of the name spaces (contacts: once the names are drawn)
            "contact": 0,
            "playlist": len(_ADJS) * len(_NOUNS) * len(_PLAYLIST_ENDS),
            "device": (len(_DEVICE_MODIFIERS) + 1) * len(_DEVICE_PLACES) * len(_DEVICE_NOUNS),
        }
        self.given_names: list[str] = []  # given names of contacts
        self.surnames: list[str] = []
        self.towns: list[int] = []  # small towns (city entities)
        self.short: dict[int, str] = {}  # entity -> its short form (towns; own things once made)
        self.given: dict[int, str] = {}  # contact entity -> its given name
        self.twins: list[tuple[int, int]] = []  # (popular, rare) towns of one name
        self.bare: dict[int, str] = {}  # twin town -> the name without the state
        self.popular_of: dict[int, int] = {}  # rare twin -> the popular one
        self.namesakes: list[tuple[int, int]] = []  # (popular title, rare near-namesake) songs and films
        self.wrong: dict[int, int] = {}  # what fulfilment returns by mistake (`Assistant.wrong`)
        self._salt = stable_int(world_seed, "personal names")
        self._made: dict[tuple[str, int], int] = {}
        self._place: dict[int, tuple[str, int]] = {}

    def name_of(self, kind: str, pos: int) -> tuple[str, str, str]:
        """(name, short form, given name or "") at position `pos` of a name space (each position its own
        name): a contact ("tavin kessler", its nickname "tav"), a playlist ("velvet harbors jams" ->
        "velvet harbors"), a named device ("reading nook lamp" -> "nook lamp", "nook lamp" -> "nook")."""
        if kind == "contact":
            first, last = divmod(pos, len(self.surnames))
            first = self.given_names[first]
            u = (mix64(pos ^ self._salt) & 0xFFFF) / 65536.0
            return f"{first} {self.surnames[last]}", _nickname(first, u), first
        if kind == "playlist":
            rest, end = divmod(pos, len(_PLAYLIST_ENDS))
            a, n = divmod(rest, len(_NOUNS))
            a, n = _ADJS[a], _NOUNS[n]
            return f"{a} {n} {_PLAYLIST_ENDS[end]}", f"{a} {n}", ""
        mod, rest = divmod(pos, len(_DEVICE_PLACES) * len(_DEVICE_NOUNS))
        place, noun = _DEVICE_PLACES[rest // len(_DEVICE_NOUNS)], _DEVICE_NOUNS[rest % len(_DEVICE_NOUNS)]
        if mod == 0:
            return f"{place} {noun}", place, ""
        return f"{_DEVICE_MODIFIERS[mod - 1]} {place} {noun}", f"{place} {noun}", ""

    def entity(self, kind: str, pos: int) -> int:
        """The entity at position `pos` of a name space (made on first use; its id is `kind:pos`)."""
        idx = self._made.get((kind, pos))
        if idx is None:
            cat = self.cat
            name, short, first = self.name_of(kind, pos)
            ent = Entity(len(cat.entities), kind, pos, name)
            idx = ent.idx
            cat.entities.append(ent)
            self._made[(kind, pos)] = idx
            self._place[idx] = (kind, pos)
            self.short[idx] = short
            if first:
                self.given[idx] = first
        return idx

    def wrong_of(self, idx: int) -> int:
        """What fulfilment returns by mistake for one of a user's own things: the next of the kind."""
        kind, pos = self._place[idx]
        return self.entity(kind, (pos + 1) % self.sizes[kind])


class WrongItems(dict):
    """entity -> the item fulfilment returns by mistake, with a user's own things' made on first use."""

    def __init__(self, world: PersonalWorld, *maps: dict[int, int]) -> None:
        super().__init__()
        for m in maps:
            self.update(m)
        self.world = world

    def __missing__(self, idx: int) -> int:
        return self.world.wrong_of(idx)


def extend_catalog(cat: Catalog, world_seed: int) -> PersonalWorld:
    """Add the personal world to `cat` (outside `by_kind`, so no popularity draw picks its entities);
    deterministic for the world seed."""
    rng = random.Random(f"{world_seed}/personal")
    rand = rng.random
    world = PersonalWorld(cat, world_seed)
    ranks: dict[str, int] = {}
    taken = set(vocab.GENRES) | set(vocab.CUISINES) | set(vocab.APPLIANCES) | set(vocab.ROOMS)
    ents = cat.entities
    taken.update([e.name for e in ents], [e.confusion for e in ents if e.confusion])
    taken.update(chain.from_iterable(e.aliases_known + e.aliases_unknown for e in ents))
    words = set(vocab.NOUNS) | set(vocab.ADJECTIVES) | set(vocab.CITY_ROOTS) | set(vocab.FIRST_NAMES)
    words |= set(vocab.LAST_NAMES) | set(vocab.CONFUSIONS.values()) | set(vocab.CONFUSIONS)

    # contacts' given names and surnames (their names: `PersonalWorld.name_of`)
    given = _syllable_names(rng, SIZES["given"], _ENDS, words, taken)
    words.update(given)
    world.given_names = given + list(vocab.FIRST_NAMES)
    world.surnames = list(vocab.LAST_NAMES) + _syllable_names(rng, 200, _SURNAME_ENDS, words, taken)
    world.sizes["contact"] = len(world.given_names) * len(world.surnames)

    # places: small towns (ordinary cities to ER), then the twin towns, the popular one first
    roots = _syllable_names(rng, SIZES["town_root"], _TOWN_ENDS, words, taken, syllables=1)
    towns: list[str] = []
    seen = set()
    while len(towns) < SIZES["town"]:
        name = f"{roots[int(rand() * len(roots))]} {_TOWN_SUFFIXES[int(rand() * len(_TOWN_SUFFIXES))]}"
        if name not in seen and name not in taken:
            seen.add(name)
            towns.append(name)
    for name in towns:
        ent = _add(cat, "city", name, taken, ranks)
        world.short[ent.idx] = name.split()[0]
        world.towns.append(ent.idx)
    for pos, idx in enumerate(world.towns):
        world.wrong[idx] = world.towns[(pos + 1) % len(world.towns)]
    for town, popular_state, rare_state in TWIN_TOWNS:
        pair = []
        for state in (popular_state, rare_state):
            ent = _add(cat, "city", f"{town} {state}", taken, ranks)
            ent.aliases_known.append(town)  # ER: "wilkerson" is the popular one (added first)
            world.bare[ent.idx] = town
            pair.append(ent.idx)
        taken.add(town)
        world.twins.append((pair[0], pair[1]))
        world.popular_of[pair[1]] = pair[0]
        world.wrong[pair[0]], world.wrong[pair[1]] = pair[1], pair[0]

    # near-namesakes of popular titles: one word swapped for the closest-spelled other word
    vocabulary = sorted(set(vocab.NOUNS) | set(vocab.ADJECTIVES) | set(_NOUNS))
    for kind, n_pairs, head in (("song", NAMESAKE_SONGS, 40), ("film", NAMESAKE_FILMS, 20)):
        candidates = cat.by_kind[kind][:head]
        picked = sorted(rng.sample(range(len(candidates)), k=min(n_pairs * 2, len(candidates))))
        made = 0
        for pos in picked:
            if made == n_pairs:
                break
            popular = cat.entities[candidates[pos]]
            name = _near_namesake(popular, vocabulary, taken)
            if name is None:
                continue
            ent = _add(cat, kind, name, taken, ranks)
            if kind == "song":  # a rare song by a rare artist
                artists, head_artists = cat.by_kind["artist"], cat.head_size["artist"]
                ent.parent = artists[head_artists + int(rand() * (len(artists) - head_artists))]
            world.namesakes.append((popular.idx, ent.idx))
            world.wrong[ent.idx] = popular.idx
            made += 1
    return world


def _add(cat: Catalog, kind: str, name: str, taken: set[str], ranks: dict[str, int]) -> Entity:
    """An entity outside `by_kind`; its id continues the numbering of its kind."""
    rank = ranks.get(kind)
    if rank is None:
        rank = len(cat.by_kind.get(kind, ()))
    ranks[kind] = rank + 1
    ent = Entity(len(cat.entities), kind, rank, name)
    cat.entities.append(ent)
    cat.by_name[(kind, name)] = ent.idx
    taken.add(name)
    return ent


def _syllable_names(
    rng: random.Random, n: int, ends: list[str], words: set[str], taken: set[str], syllables: int = 2
) -> list[str]:
    """`n` new pronounceable names (onset, vowel, consonant[, vowel], ending), none of them in `words`
    or `taken`."""
    out: list[str] = []
    seen: set[str] = set()
    rand = rng.random
    while len(out) < n:
        name = _ONSETS[int(rand() * len(_ONSETS))] + _NUCLEI[int(rand() * len(_NUCLEI))]
        name += _MIDS[int(rand() * len(_MIDS))] if syllables == 2 else ""
        name += ends[int(rand() * len(ends))]
        if not 4 <= len(name) <= 10 or name in seen or name in words or name in taken or _TRIPLE.search(name):
            continue
        seen.add(name)
        out.append(name)
    return out


def _nickname(given: str, u: float) -> str:
    """A short form of a given name: its first syllable, with "-y", "-ie", "-o" or nothing ("tavin" -> "tav",
    "tavvy")."""
    m = re.match(r"[^aeiou]*[aeiou]+[^aeiou]*", given)
    stem = m.group(0) if m else given[:3]
    if stem == given or len(stem) < 2:
        stem = given[: max(2, len(given) - 2)]
    ending = ("y", "ie", "o", "")[int(u * 4)]
    if stem[-1] in "aeiouy":
        ending = ("", "s", "n", "")[int(u * 4)]
    elif ending == "y" and stem[-2] != stem[-1]:
        ending = stem[-1] + "y"
    nick = stem + ending
    return nick if nick != given else stem + "s"


def _near_namesake(popular: Entity, vocabulary: list[str], taken: set[str]) -> str | None:
    """The title with one content word replaced by the most similar-looking other word of the vocabulary
    (`_likeness` >= 0.6; ties: the first word of the title, then vocabulary order)."""
    words = popular.name.split()
    options = []
    for i, w in enumerate(words):
        if w in ("the", "of", "a", "and", "in", "my"):
            continue
        banned = {w, vocab.CONFUSIONS.get(w), plural(w, vocab.IRREGULAR_PLURALS), w.removesuffix("s")}
        for n, c in enumerate(vocabulary):
            if (c[0] == w[0] or c[-2:] == w[-2:]) and c not in banned and c not in words:
                score = _likeness(w, c)
                if score >= 0.6:
                    options.append((-score, i, n))
    for _, i, n in sorted(options):
        name = " ".join([*words[:i], vocabulary[n], *words[i + 1 :]])
        if name not in taken:
            return name
    return None


def _likeness(a: str, b: str) -> float:
    """How alike two words look: their common beginning and end, over the longer one's length."""
    n = min(len(a), len(b))
    head = next((i for i in range(n) if a[i] != b[i]), n)
    tail = next((i for i in range(n - head) if a[-1 - i] != b[-1 - i]), n - head)
    return (head + tail) / max(len(a), len(b))


def accent_of(name: str, order: list[int]) -> str:
    """How ASR hears `name` from a speaker whose accent tries `ACCENT_RULES` in `order`."""
    words = name.split()
    for r in order:
        pattern, repl = ACCENT_RULES[r]
        for i, w in enumerate(words):
            heard = pattern.sub(repl, w, count=1)
            if heard != w and len(heard) >= 2:
                return " ".join([*words[:i], heard, *words[i + 1 :]]).strip()
    return name + "s"


class Own:
    """One of a user's own things, as they ask for it."""

    __slots__ = ("kind", "idx", "intents", "split", "templates", "said", "careful", "heard", "error",
                 "screen_only")  # fmt: skip

    def __init__(self, kind: str, idx: int, intents: tuple[Intent, ...], templates: tuple[str, ...]) -> None:
        self.kind = kind
        self.idx = idx
        self.intents = intents
        self.split = 0.5 if kind == "device" else 0.7  # P(the first of two intents)
        self.templates = templates
        self.said = ""  # the name as the user habitually says it
        self.careful = ""  # ... and on a retry: in full, or the same words said carefully
        self.heard = None  # the user's fixed mishearing of `said`, for an accent error
        self.error = None  # "asr" | "short" | "bare" (a rare twin said without its state) | None
        self.screen_only = False

    def __repr__(self) -> str:
        return f"Own({self.kind!r}, {self.said!r}, error={self.error!r}, heard={self.heard!r})"


class Profile:
    """A user's own things and the registry ER resolves them from (kind -> name -> entity index).

    What the user has is drawn when the profile is made (`specs`: kind, entity, how they name it, the
    cumulative weights `cum` of how often each is asked for); how they ask for each thing (habits,
    their own errors) is drawn the first time it is asked for (`Profiles.thing`), from the thing's own
    seed, so a profile costs little and is the same whichever things a day uses."""

    __slots__ = ("key", "specs", "items", "cum", "registry", "accent")

    def __init__(self, key: int) -> None:
        self.key = key
        self.specs: list[tuple[str, int, str, str | None]] = []  # kind, entity, name as said, twin role
        self.items: list[Own | None] = []
        self.cum: list[float] = []
        self.registry: dict[str, dict[str, int]] = {}
        self.accent: list[int] | None = None  # an order of `ACCENT_RULES`, drawn on first use


# how often each kind of thing is asked for, split over the user's things of that kind (1, 1/2, 1/3...)
KIND_WEIGHTS = {"contact": 3.5, "playlist": 2.0, "device": 2.5, "place": 1.5, "title": 1.0}
_ACCENT_SALT = 0x5EED_ACCE  # the accent's seed, apart from the things'


class Profiles:
    """Makes each user's personal profile on first use (deterministic for the seed and the user)."""

    def __init__(self, world: PersonalWorld, cfg, seed: int, catalog: Catalog, phrasing_cum: dict) -> None:
        self.world = world
        self.ents = catalog.entities
        self.error_fraction = cfg.personal_error_fraction
        self.namesake_share = cfg.namesake_share
        self._salt = stable_int(seed, "personal")
        self._rng = random.Random()
        self._phrasing_cum = phrasing_cum
        pi, ib = PERSONAL_INTENT_BY_KEY, INTENT_BY_KEY
        self._intents = {
            "contact": (pi["communication.call"],),
            "playlist": (pi["music.play_playlist"],),
            "device": (pi["smart_home.turn_on"], pi["smart_home.turn_off"]),
            "city": (ib["weather.get_weather"], ib["weather.get_temperature"]),
            "song": (ib["music.play_song"],),
            "film": (ib["video.play_film"],),
        }

    def of(self, u) -> Profile:
        p = u.personal
        if p is None:
            p = u.personal = self._build(u)
        return p

    def things(self, u) -> list[Own]:
        """All of a user's own things, as they ask for them."""
        p = self.of(u)
        return [self.thing(p, i) for i in range(len(p.specs))]

    def goal(self, u, rng: random.Random, has_screen: bool):
        """(intent, slots, habitual phrasing, the thing) for a request about one of the user's own things,
        or None (a film on a device without a screen)."""
        p = self.of(u)
        own = self.thing(p, pick_cumulative(p.cum, rng.random()))
        if own.screen_only and not has_screen:
            return None
        k = 0 if len(own.intents) == 1 or rng.random() < own.split else 1
        return own.intents[k], ((own.kind, own.idx),), own.templates[k], own

    # -- making them ------------------------------------------------------------------------------
    def _build(self, u) -> Profile:
        """What the user has: contacts, playlists, devices, places, maybe a liked near-namesake title."""
        rng = self._rng
        p = Profile(mix64(u.idx ^ self._salt))
        rng.seed(p.key)
        rand = rng.random
        world, ents = self.world, self.ents
        weights: list[float] = []

        def add(
            kind: str, idx: int, said: str, kind_weight: float, rank: int, role: str | None = None
        ) -> None:
            p.specs.append((kind, idx, said, role))
            weights.append(kind_weight / (rank + 1))

        def pick(size: int, n: int) -> list[int]:
            out: list[int] = []
            while len(out) < n:
                pos = int(rand() * size)
                if pos not in out:
                    out.append(pos)
            return out

        registry = p.registry
        contacts = [world.entity("contact", pos) for pos in pick(world.sizes["contact"], 2 + int(rand() * 5))]
        firsts = [world.given[c] for c in contacts]
        reg = registry["contact"] = {}
        for rank, idx in enumerate(contacts):
            name, first = ents[idx].name, world.given[idx]
            reg[name] = idx
            unique = firsts.count(first) == 1
            if unique:
                reg.setdefault(first, idx)
            add("contact", idx, first if unique else name, KIND_WEIGHTS["contact"], rank)
        for kind in ("playlist", "device"):
            reg = registry[kind] = {}
            for rank, pos in enumerate(pick(world.sizes[kind], int(rand() * 4))):
                idx = world.entity(kind, pos)
                reg[ents[idx].name] = idx
                add(kind, idx, ents[idx].name, KIND_WEIGHTS[kind], rank)
        for rank in range(1 + (rand() < 0.5)):
            if rank == 0 and self.namesake_share and rand() < self.namesake_share:
                popular, rare = world.twins[int(rand() * len(world.twins))]
                idx = rare if rand() < RARE_TWIN else popular
                add(
                    "city",
                    idx,
                    world.bare[idx],
                    KIND_WEIGHTS["place"],
                    rank,
                    "rare" if idx == rare else "popular",
                )
            else:
                idx = world.towns[int(rand() * len(world.towns))]
                add("city", idx, ents[idx].name, KIND_WEIGHTS["place"], rank)
        if self.namesake_share and rand() < self.namesake_share:
            _, idx = world.namesakes[int(rand() * len(world.namesakes))]
            add(ents[idx].kind, idx, ents[idx].name, KIND_WEIGHTS["title"], 0, "title")
        p.items = [None] * len(p.specs)
        p.cum = cumulative(weights)
        return p

    def thing(self, p: Profile, i: int) -> Own:
        """The user's `i`-th thing as they ask for it: their habitual phrasing(s), and their own error."""
        own = p.items[i]
        if own is not None:
            return own
        kind, idx, said, role = p.specs[i]
        rng = self._rng
        rng.seed(mix64(p.key + i + 1))
        rand = rng.random
        intents = self._intents[kind]
        if role == "title":  # a liked near-namesake: said right, the plain way
            own = Own(kind, idx, intents, (f"play {{{kind}}}",))
            own.said = own.careful = said
            own.screen_only = kind == "film"
            p.items[i] = own
            return own
        templates = []
        for intent in intents:
            phrasings, cum = self._phrasing_cum[(intent.key, (kind,))]
            templates.append(phrasings[pick_cumulative(cum, rand())].template)
        own = Own(kind, idx, intents, tuple(templates))
        own.said = said
        own.careful = self.ents[idx].name  # in full
        if role is not None:  # a twin town, said without its state
            own.error = "bare" if role == "rare" else None
        elif rand() < self.error_fraction:
            if rand() < 0.5:
                own.error, own.said = "short", self.world.short[idx]
            else:
                own.error, own.careful = "asr", said  # the same words, said carefully
                if p.accent is None:
                    rng.seed(p.key ^ _ACCENT_SALT)
                    p.accent = sorted(range(len(ACCENT_RULES)), key=lambda _: rand())
                own.heard = accent_of(said, p.accent)
        p.items[i] = own
        return own
