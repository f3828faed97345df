"""The simulated assistant's language understanding: a grammar over TEXT, plus entity resolution.

NLU sees only the text that reaches it (the ASR 1-best, or the rewrite of it), never what the user
meant, so a text rewrite genuinely changes the outcome. It is a list of covered patterns; an open
slot matches any words, and where one pattern serves several kinds ("play {x}") the kind comes from a
gazetteer of every name users say (canonical names, aliases, partial titles). The NLU is
context-blind: "play harry potter" is always the film, "what is the temperature" always the weather.
Text that no pattern covers falls back to a few keywords, then to a web-search style question.

Entity resolution (ER) is stricter than the gazetteer: it knows canonical names and `aliases_known`
only, and `@my` slots come from what the user taught the assistant.

With a personal world (`personal.py`, `SimConfig.personal_share` > 0) the grammar also covers
`PERSONAL_GRAMMAR` ("call {contact}", "play my {playlist} playlist", "turn on the {device}"), and ER
resolves the kinds in `PERSONAL_KINDS` from the requesting user's own registry only.

A request may end by naming a preference it would otherwise rely on (`catalog.AMBIENT_KINDS`, `AMBIENT_SUFFIXES`):
"play imagine dragons on spotify", "what's the news from bbc" (what a user says on a retry, and what the
runtime's personal layer rewrites "play imagine dragons" into for a user who taught their service). The rest
is parsed as ever, and the named preference is one more slot; the statements of these preferences
(`intents.PREFERENCE_PHRASINGS`, both phrasing sets) are in the grammar.
"""

from __future__ import annotations

import re

from selflearn_assets.lib.simulator.catalog import AMBIENT_KINDS, CLOSED_KINDS, Catalog
from selflearn_assets.lib.simulator.intents import (
    INTENTS,
    PERSONAL_INTENTS,
    PREFERENCE_INTENTS,
    PREFERENCE_PHRASINGS,
)
from selflearn_assets.lib.simulator.text import normalize_text

MY = "@my"  # slot value of a slot the user leaves implicit ("my team")

# fmt: off
MEDIA = {"song": "music.play_song", "artist": "music.play_artist", "genre": "music.play_genre",
         "film": "video.play_film", "show": "video.play_show", "book": "audiobooks.play_book"}

# pattern -> intent, or kind -> intent for a routed placeholder {x:kind|kind}; order of kinds = priority
GRAMMAR: list[tuple[str, str | dict[str, str]]] = [
    ("play {x:song|artist|genre|film|show|book}", MEDIA),
    ("play some {x:artist|genre}", MEDIA),
    ("put on {x:song|artist|film|show|book}", MEDIA),
    ("play music by {artist}", "music.play_artist"), ("play songs by {artist}", "music.play_artist"),
    ("play the song {song}", "music.play_song"), ("play {song} by {artist}", "music.play_song"),
    ("play the song {song} by {artist}", "music.play_song"), ("play {genre} music", "music.play_genre"),
    ("pause", "music.pause"), ("stop", "music.pause"), ("pause the music", "music.pause"),
    ("stop the music", "music.pause"),
    ("next", "music.next"), ("next song", "music.next"), ("skip", "music.next"), ("skip this song", "music.next"),
    ("volume up", "music.volume_up"), ("turn it up", "music.volume_up"), ("louder", "music.volume_up"),
    ("turn the volume up", "music.volume_up"),
    ("watch {x:film|show}", MEDIA), ("i want to watch {x:film|show}", MEDIA),
    ("play the movie {film}", "video.play_film"), ("show me the movie {film}", "video.play_film"),
    ("play the show {show}", "video.play_show"), ("play the next episode of {show}", "video.play_show"),
    ("read {book}", "audiobooks.play_book"), ("read me {book}", "audiobooks.play_book"),
    ("play the audiobook {book}", "audiobooks.play_book"), ("i want to listen to {book}", "audiobooks.play_book"),
    ("resume my book", "audiobooks.resume_book"), ("continue my audiobook", "audiobooks.resume_book"),
    ("keep reading", "audiobooks.resume_book"),
    ("what's the weather", "weather.get_weather"), ("what's the weather like", "weather.get_weather"),
    ("what's the weather in {city}", "weather.get_weather"), ("weather in {city}", "weather.get_weather"),
    ("what's the weather like in {city}", "weather.get_weather"), ("will it rain in {city}", "weather.get_weather"),
    ("forecast for {city}", "weather.get_weather"),
    ("what is the temperature", "weather.get_temperature"), ("what's the temperature", "weather.get_temperature"),
    ("what's the temperature in {city}", "weather.get_temperature"),
    ("how cold is it outside", "weather.get_temperature"),
    ("turn on the {appliance}", "smart_home.turn_on"), ("turn the {appliance} on", "smart_home.turn_on"),
    ("switch on the {appliance}", "smart_home.turn_on"), ("turn on the {room} {appliance}", "smart_home.turn_on"),
    ("turn on the {appliance} in the {room}", "smart_home.turn_on"),
    ("turn off the {appliance}", "smart_home.turn_off"), ("turn the {appliance} off", "smart_home.turn_off"),
    ("switch off the {appliance}", "smart_home.turn_off"), ("turn off the {room} {appliance}", "smart_home.turn_off"),
    ("turn off the {appliance} in the {room}", "smart_home.turn_off"),
    ("set the thermostat to {temperature}", "smart_home.set_thermostat"),
    ("set the temperature to {temperature}", "smart_home.set_thermostat"),
    ("what's the oven temperature", "smart_home.oven_temperature"), ("how hot is the oven", "smart_home.oven_temperature"),
    ("set a timer for {duration}", "timers.set_timer"), ("timer for {duration}", "timers.set_timer"),
    ("start a timer for {duration}", "timers.set_timer"),
    ("set an alarm for {time}", "timers.set_alarm"), ("wake me up at {time}", "timers.set_alarm"),
    ("alarm for {time}", "timers.set_alarm"),
    ("cancel the timer", "timers.cancel"), ("stop the timer", "timers.cancel"), ("cancel my alarm", "timers.cancel"),
    ("add {product} to my shopping list", "shopping.add_to_list"), ("add {product} to my list", "shopping.add_to_list"),
    ("put {product} on my list", "shopping.add_to_list"), ("add {product}", "shopping.add_to_list"),
    ("order {product}", "shopping.order"), ("buy {product}", "shopping.order"), ("reorder {product}", "shopping.order"),
    ("who is {person}", "knowledge.who_is"), ("tell me about {person}", "knowledge.who_is"),
    ("how old is {person}", "knowledge.who_is"), ("when was {person} born", "knowledge.birth_date"),
    ("how tall is {landmark}", "knowledge.height"), ("what's the height of {landmark}", "knowledge.height"),
    ("who wrote {book}", "knowledge.author_of"), ("who is the author of {book}", "knowledge.author_of"),
    ("what's the news", "news.get_news"), ("play the news", "news.get_news"), ("what's in the news", "news.get_news"),
    ("give me the {topic} news", "news.get_news"), ("what's the latest in {topic}", "news.get_news"),
    ("{topic} news", "news.get_news"),
    ("how did the {team} do", "sports.get_score"), ("what's the {team} score", "sports.get_score"),
    ("did the {team} win", "sports.get_score"), ("{team} score", "sports.get_score"),
    ("how did my team do", "sports.get_score"), ("did my team win", "sports.get_score"),
    ("what's my team's score", "sports.get_score"),
    ("find me a {cuisine} restaurant", "local.find_restaurant"),
    ("find a {cuisine} restaurant near me", "local.find_restaurant"),
    ("where can i get {cuisine} food", "local.find_restaurant"), ("find me a restaurant", "local.find_restaurant"),
    ("find a restaurant near me", "local.find_restaurant"), ("where should i eat", "local.find_restaurant"),
    ("{cuisine} restaurants near me", "local.find_restaurant"),
    ("i'm a {team} fan", "preferences.set_team"), ("my team is the {team}", "preferences.set_team"),
    ("i like {cuisine} food", "preferences.set_cuisine"), ("my favorite food is {cuisine}", "preferences.set_cuisine"),
    ("i love {cuisine} food", "preferences.set_cuisine"),
    *((t, key) for key, sets in PREFERENCE_PHRASINGS.items() for ts in sets.values() for t in ts),
]
# a user's own contacts, playlists and named devices (open slots; resolved per user)
PERSONAL_GRAMMAR: list[tuple[str, str]] = [
    ("call {contact}", "communication.call"), ("phone {contact}", "communication.call"),
    ("give {contact} a call", "communication.call"), ("dial {contact}", "communication.call"),
    ("play my {playlist} playlist", "music.play_playlist"), ("play the {playlist} playlist", "music.play_playlist"),
    ("play playlist {playlist}", "music.play_playlist"), ("shuffle my {playlist} playlist", "music.play_playlist"),
    ("turn on the {device}", "smart_home.turn_on"), ("turn the {device} on", "smart_home.turn_on"),
    ("switch on the {device}", "smart_home.turn_on"), ("turn off the {device}", "smart_home.turn_off"),
    ("turn the {device} off", "smart_home.turn_off"), ("switch off the {device}", "smart_home.turn_off"),
]
PERSONAL_KINDS = frozenset(("contact", "playlist", "device"))  # resolved from the user's own registry
# patterns whose request relies on a taught preference: intent -> implicit slot
IMPLICIT = {"how did my team do": "team", "did my team win": "team", "what's my team's score": "team",
            "find me a restaurant": "cuisine", "find a restaurant near me": "cuisine", "where should i eat": "cuisine"}
KEYWORDS = [("weather", "weather.get_weather"), ("umbrella", "weather.get_weather"), ("rain", "weather.get_weather"),
            ("timer", "timers.set_timer"), ("alarm", "timers.set_alarm")]
POLITE_PREFIXES = ("can you ", "could you ", "please ")
FALLBACK_INTENT = "knowledge.question"
MAIN_KIND_ORDER = ("song", "film", "show", "book", "artist", "person", "landmark", "product", "team", "city",
                   "genre", "cuisine", "topic", "appliance", "temperature", "duration", "time", "room",
                   "contact", "playlist", "device", "news_source", "music_service")
_ALL_INTENTS = INTENTS + PERSONAL_INTENTS + PREFERENCE_INTENTS
REQUIRED = {
    key: frozenset.intersection(*(frozenset(f) for i in _ALL_INTENTS if i.key == key for f, _ in i.frames))
    for key in {i.key for i in _ALL_INTENTS}
}
# how a request names an ambient preference at its end: (" on ", "music_service"), (" from ", "news_source")
AMBIENT_SUFFIXES = {"music_service": " on ", "news_source": " from "}
# fmt: on


class Parse:
    """What NLU made of a text, with what later stages ask of it precomputed (parses are cached and shared).

    `domain`, `name` and `slot_list` are the logged form; never mutate them.
    """

    __slots__ = ("intent", "slots", "quality", "domain", "name", "slot_list", "kinds", "my_kind",
                 "incomplete", "main_kinds", "personal")  # fmt: skip

    def __init__(self, intent: str | None, slots: tuple[tuple[str, str], ...], quality: str) -> None:
        self.intent = intent
        self.slots = slots  # (kind, surface text), sorted by kind
        self.quality = quality  # typed | ambiguous | untyped | fixed | keyword | fallback | empty
        self.domain, self.name = intent.split(".", 1) if intent else (None, None)
        self.slot_list = [
            {"name": k, "value": "my team" if v == MY else v}
            for k, v in slots
            if not (v == MY and k != "team")
        ]
        self.kinds = frozenset(k for k, _ in slots if k != "query")  # entity slots
        self.my_kind = next((k for k, v in slots if v == MY), None)
        # a required slot is missing: the assistant asks for it
        self.incomplete = bool(REQUIRED.get(intent, frozenset()) - {k for k, _ in slots})
        self.main_kinds = tuple(sorted(self.kinds, key=MAIN_KIND_ORDER.index))  # "the" entity comes first
        self.personal = not self.kinds.isdisjoint(PERSONAL_KINDS)  # names one of the user's own things

    @property
    def meaning(self) -> tuple:
        return self.intent, self.slots


_NONE: dict[str, int] = {}
_HOLE = re.compile(r"\{(?:x:)?([\w|]+)\}")


class _Rule:
    """One covered pattern, compiled: literal words, and a regex group per placeholder."""

    __slots__ = ("regex", "target", "holes", "implicit", "literal_words", "first")

    def __init__(self, pattern: str, target: str | dict[str, str], catalog: Catalog) -> None:
        self.holes: list[list[str]] = []
        parts = []
        for token in pattern.split():
            hole = _HOLE.fullmatch(token)
            if hole is None:
                parts.append(re.escape(normalize_text(token)))
                continue
            kinds = hole.group(1).split("|")
            self.holes.append(kinds)
            if len(kinds) == 1 and kinds[0] in CLOSED_KINDS:
                names = sorted(
                    (catalog.entities[i].name for i in catalog.by_kind[kinds[0]]), key=len, reverse=True
                )
                parts.append("(" + "|".join(map(re.escape, names)) + ")")
            else:
                parts.append("(.+?)")
        self.regex = re.compile(" ".join(parts))
        self.target = target
        self.implicit = IMPLICIT.get(pattern)
        self.literal_words = len(parts) - len(self.holes)
        self.first = None if _HOLE.fullmatch(pattern.split()[0]) else normalize_text(pattern.split()[0])


class Nlu:
    """Parses text into (intent, slots) and resolves slots to catalog entities. Results are cached."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        grammar = GRAMMAR + PERSONAL_GRAMMAR if catalog.personal is not None else GRAMMAR
        rules = sorted(
            (_Rule(p, t, catalog) for p, t in grammar), key=lambda r: (-r.literal_words, -len(r.holes))
        )
        self._slot_first = [r for r in rules if r.first is None]
        self._by_first = {
            w: [r for r in rules if r.first in (w, None)] for w in {r.first for r in rules} if w
        }
        # gazetteer: every surface users say -> kinds it names; ER: canonical names and known aliases only
        self.gazetteer: dict[str, set[str]] = {}
        self.er_index: dict[str, dict[str, int]] = {}
        # (a user's own contacts, playlists and devices are in neither: their patterns type the slot)
        for ent in catalog.entities:
            if ent.kind in PERSONAL_KINDS:
                continue
            for surface in (ent.name, *ent.aliases_known, *ent.aliases_unknown):
                self.gazetteer.setdefault(surface, set()).add(ent.kind)
            self.er_index.setdefault(ent.kind, {})[ent.name] = ent.idx
        for ent in catalog.entities:  # popularity order: an alias shared by several resolves to the first
            if ent.kind not in PERSONAL_KINDS:
                for alias in ent.aliases_known:
                    self.er_index[ent.kind].setdefault(alias, ent.idx)
        self._cache: dict[str, Parse] = {}
        # (separator, kind, name) of every ambient preference a request may end with, longest names first
        self._suffixes = sorted(
            ((AMBIENT_SUFFIXES[k], k, catalog.entities[i].name) for k in AMBIENT_KINDS for i in catalog.by_kind.get(k, ())),
            key=lambda x: -len(x[2]),
        )  # fmt: skip

    def parse(self, text: str) -> Parse:
        hit = self._cache.get(text)
        if hit is None:
            if len(self._cache) > 200_000:
                self._cache.clear()
            hit = self._cache[text] = self._parse(text)
        return hit

    def _parse(self, text: str) -> Parse:
        norm = normalize_text(text)
        for prefix in POLITE_PREFIXES:
            if norm.startswith(prefix):
                norm = norm[len(prefix) :]
        if norm.endswith(" please"):
            norm = norm[: -len(" please")]
        if not norm:
            return Parse(None, (), "empty")
        if " on " in norm or " from " in norm:
            named = self._ambient(norm)
            if named is not None:
                return named
        gaz = self.gazetteer
        for rule in self._by_first.get(norm.split(" ", 1)[0], self._slot_first):
            m = rule.regex.fullmatch(norm)
            if m is None:
                continue
            intent, slots, typed, ambiguous = rule.target, [], True, False
            for kinds, value in zip(rule.holes, m.groups(), strict=True):
                known = gaz.get(value, ())
                kind = next((k for k in kinds if k in known), kinds[0])
                typed = typed and (kind in known or kind in PERSONAL_KINDS)
                ambiguous = ambiguous or sum(k in known for k in kinds) > 1
                slots.append((kind, value))
                if isinstance(rule.target, dict):
                    intent = rule.target[kind]
            if rule.implicit:
                slots.append((rule.implicit, MY))
            quality = (
                ("ambiguous" if ambiguous else "typed" if typed else "untyped") if rule.holes else "fixed"
            )
            return Parse(intent, tuple(sorted(slots)), quality)
        words = norm.split()
        for keyword, intent in KEYWORDS:
            if keyword in words:
                return Parse(intent, (), "keyword")
        return Parse(FALLBACK_INTENT, (("query", norm),), "fallback")

    def _ambient(self, norm: str) -> Parse | None:
        """A request that ends by naming an ambient preference ("play x on spotify"): the rest's parse with it as
        one more slot, where the rest is a request the grammar covers; else None."""
        for sep, kind, name in self._suffixes:
            if norm.endswith(sep + name) and len(norm) > len(sep) + len(name):
                rest = self.parse(norm[: -len(sep) - len(name)])
                if rest.quality in ("typed", "ambiguous", "untyped", "fixed") and kind not in rest.kinds:
                    return Parse(rest.intent, tuple(sorted((*rest.slots, (kind, name)))), rest.quality)
        return None

    def resolve(
        self, parse: Parse, memory: dict[str, int], registry: dict[str, dict[str, int]] | None = None
    ):
        """ER of a parse: (resolved (kind, entity index) pairs, the main entity or None, the first surface
        ER could not resolve, the implicit kind the user never taught). `memory`: what the user taught;
        `registry`: the user's own contacts, playlists and devices (kind -> name -> entity)."""
        out = []
        unresolved = missing_pref = None
        index = self.er_index
        for kind, surface in parse.slots:
            if kind == "query":
                continue
            if surface == MY:
                idx = memory.get(kind)
                if idx is None:
                    missing_pref = kind
                    continue
            else:
                names = index.get(kind)
                if names is None:  # a kind of the user's own things
                    names = registry.get(kind, _NONE) if registry else _NONE
                idx = names.get(surface)
                if idx is None:
                    unresolved = unresolved or surface
                    continue
            out.append((kind, idx))
        if not out:
            return (), None, unresolved, missing_pref
        if len(out) == 1:
            return tuple(out), out[0][1], unresolved, missing_pref
        found = dict(out)
        main = next(found[k] for k in parse.main_kinds if k in found)
        return tuple(out), main, unresolved, missing_pref
