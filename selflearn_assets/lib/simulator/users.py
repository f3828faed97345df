"""Simulated customers: who they are, which devices they own, when and what they ask.

A user has a time zone and a daily rhythm (hours they talk to the assistant), one to three devices,
preferences (genres, artists, a sports team, a cuisine, a home city), a few routine requests they
repeat in their own habitual words, and an ASR factor (accent, noisy home) that scales how often the
recogniser mishears them. `memory` is what the user taught before the world's first day (their team,
for some); the runtime keeps it, and everything they teach later (`run.py`, `teaching.py`). Goals are drawn from the routines, or from time-of-day intent weights and Zipf-popular
entities, so the same requests recur across many users; a share of the entities drawn by popularity
(`long_tail_share`, also for a user's favourites) come from the catalog's long tail instead, so many
requests are said by a handful of users only. After a failure a user may reformulate into another
request of the same domain (`reformulation`). With `personal_share`, a goal is about one of the user's
own things (`personal.Profiles`: contacts, playlists, named devices, habitual places, liked titles).

Some users (`news_source_share`, `music_service_share`) also have a news source and a music service, drawn by
popularity (the most popular is the assistant's default), and some (`preference_change_share`) change one
preference from a later day on (`changes`: (kind, first day ordinal, the new entity); `apply_changes`). These
are drawn from the user's own hash, apart from the profile's rng: with the knobs at 0 nothing is drawn.
"""

from __future__ import annotations

import math
import random
from bisect import bisect

from selflearn_assets.lib.simulator.catalog import Catalog
from selflearn_assets.lib.simulator.intents import (
    INTENT_BY_KEY,
    INTENTS,
    PERSONAL_INTENTS,
    SCREEN_DEVICES,
    Intent,
    Phrasing,
)
from selflearn_assets.lib.simulator.nlu import MY, Nlu
from selflearn_assets.lib.simulator.personal import Profiles
from selflearn_assets.lib.simulator.text import cumulative, mix64, pick_cumulative, stable_int

CHANGEABLE = ("team", "cuisine", "news_source", "music_service")  # preferences a user may change

# fmt: off
DEVICE_TYPES = ["speaker", "screen", "tv", "car", "phone"]
DEVICE_WEIGHTS = [0.45, 0.2, 0.12, 0.08, 0.15]
TIMEZONES = [(-5, "en-US", 0.35), (-6, "en-US", 0.25), (-7, "en-US", 0.1), (-8, "en-US", 0.2), (0, "en-GB", 0.1)]
# daily rhythms: (local hour, spread in hours, weight) bumps
RHYTHMS = {
    "early_bird": [(6.5, 1.2, 3), (12, 2, 1), (18, 2, 2)],
    "family": [(7, 1, 2), (17.5, 2, 4), (20, 1.5, 2)],
    "night_owl": [(10, 2, 1), (21, 2, 3), (23.5, 1.5, 2)],
    "commuter": [(7.5, 1, 3), (17.5, 1, 3), (21, 2, 1)],
}
# base share of each intent in the traffic, and how the local hour scales each domain (the oven's
# temperature is asked only while it is on: see `Population.goal`)
INTENT_WEIGHTS = {
    "music.play_artist": 10, "music.play_song": 9, "music.play_genre": 4, "music.pause": 3, "music.next": 2,
    "music.volume_up": 2, "video.play_film": 4, "video.play_show": 4, "audiobooks.play_book": 3,
    "audiobooks.resume_book": 1.5, "weather.get_weather": 7, "weather.get_temperature": 3,
    "smart_home.turn_on": 5, "smart_home.turn_off": 5, "smart_home.set_thermostat": 1.5,
    "smart_home.oven_temperature": 0.0, "timers.set_timer": 5, "timers.set_alarm": 3, "timers.cancel": 1.5,
    "shopping.add_to_list": 3, "shopping.order": 1.5, "knowledge.who_is": 2, "knowledge.birth_date": 1.2,
    "knowledge.height": 1, "knowledge.author_of": 1, "news.get_news": 3, "sports.get_score": 2.5,
    "local.find_restaurant": 1.5, "preferences.set_team": 0.15, "preferences.set_cuisine": 0.15,
}
HOUR_BUCKETS = [(0, 6, "night"), (6, 10, "morning"), (10, 17, "day"), (17, 22, "evening"), (22, 24, "night")]
DOMAIN_BY_BUCKET = {
    "night": {"timers": 2.5, "audiobooks": 2.5, "music": 0.6, "weather": 0.5, "news": 0.3, "smart_home": 1.5},
    "morning": {"weather": 2.5, "news": 2.5, "music": 0.7, "video": 0.4, "timers": 1.2},
    "day": {"shopping": 1.5, "knowledge": 1.5},
    "evening": {"video": 2.0, "music": 1.2, "smart_home": 1.4, "timers": 1.4, "local": 2.0, "sports": 1.5},
}
MEDIA_CONTROLS = ("music.pause", "music.next", "music.volume_up")
# fmt: on
COMMUTE_HOURS = frozenset((7, 8, 17, 18))  # local hours a car is the likely device


def _rhythm_cum(bumps) -> list[float]:
    """Cumulative weights of the 24 local hours for a rhythm (wrapped Gaussian bumps)."""
    return cumulative(
        [
            0.05
            + sum(w * math.exp(-(((h + 0.5 - c + 12) % 24 - 12) ** 2) / (2 * s * s)) for c, s, w in bumps)
            for h in range(24)
        ]
    )


_RHYTHM_CUMS = [_rhythm_cum(b) for b in RHYTHMS.values()]
_TZ_CUM = cumulative([w for *_, w in TIMEZONES])
_N_DEVICES_CUM = cumulative([0.5, 0.35, 0.15])
_DEVICE_CUM = cumulative(DEVICE_WEIGHTS)
# a user's first device is their main one; in commute hours, their car (if any) is
_DEVICE_PICK_CUM = {n: cumulative([3.0] + [1.0] * (n - 1)) for n in (1, 2, 3)}
_BUCKETS = ("night", "morning", "day", "evening")
_BUCKET_OF_HOUR = [next(name for lo, hi, name in HOUR_BUCKETS if lo <= h < hi) for h in range(24)]
_NO_STATE: dict = {}


class User:
    __slots__ = ("idx", "id", "locale", "tz", "devices", "device_cum", "device_cum_commute", "hour_cum",
                 "session_rate", "asr_factor", "team", "cuisine", "city", "cities", "genres", "artists",
                 "rooms", "appliances", "has_oven", "routines", "memory", "treated", "personal", "news_source",
                 "music_service", "changes")  # fmt: skip


class Population:
    """Users of one run, and the goal sampler they share."""

    def __init__(self, catalog: Catalog, nlu: Nlu, cfg, seed: int) -> None:
        self.cat = catalog
        self.cfg = cfg
        self.seed = seed
        # intent weights per (hour bucket, has screen), video intents only where there is a screen
        self.intent_cum: dict[tuple[str, bool], tuple[list[Intent], list[float]]] = {}
        for bucket in ("night", "morning", "day", "evening"):
            for screen in (False, True):
                intents = [i for i in INTENTS if screen or not i.screen_only]
                weights = [
                    INTENT_WEIGHTS[i.key] * DOMAIN_BY_BUCKET[bucket].get(i.domain, 1.0) for i in intents
                ]
                self.intent_cum[(bucket, screen)] = (intents, cumulative(weights))
        # how users word each (intent, slot frame); `nlu_miss_scale` scales the phrasings NLU gets wrong
        self.phrasing_cum = {}
        for i in INTENTS:
            for frame, _ in i.frames:
                phrasings = [p for p in i.phrasings if p.slots == frame]
                weights = [p.weight * (cfg.nlu_miss_scale if _misunderstood(i, p, catalog, nlu) else 1.0)
                           for p in phrasings]  # fmt: skip
                self.phrasing_cum[(i.key, frame)] = (
                    phrasings,
                    cumulative(weights if sum(weights) else [1.0] * len(phrasings)),
                )
        self.frame_cum = {i.key: cumulative([w for _, w in i.frames]) for i in INTENTS}
        self._salt = stable_int(seed, "users")
        self._zipf = {
            k: (idxs, catalog.zipf[k], catalog.zipf[k][-1], len(idxs) - catalog.head_size[k])
            for k, idxs in catalog.by_kind.items()
        }
        self._tail_share = cfg.long_tail_share
        # other intents of each domain a user may turn to after a failure, by whether there is a screen
        self.sibling_cum = {}
        for i in INTENTS:
            for screen in (False, True):
                sibs = [j for j in INTENTS if j.domain == i.domain and j is not i and INTENT_WEIGHTS[j.key] > 0
                        and (screen or not j.screen_only)]  # fmt: skip
                self.sibling_cum[(i.key, screen)] = (sibs, cumulative([INTENT_WEIGHTS[j.key] for j in sibs]))
        apps = catalog.by_kind["appliance"]
        self._appliances = {False: [a for a in apps if catalog.entities[a].name != "oven"], True: list(apps)}
        # the users' own things (None: the run has no personal sources, and draws nothing for them)
        self.profiles = None
        self._personal_share = cfg.personal_share
        self._prefs_salt = stable_int(seed, "preferences")
        self._prefs = (
            cfg.news_source_share > 0 or cfg.music_service_share > 0 or cfg.preference_change_share > 0
        )
        if cfg.personal_share > 0:
            if catalog.personal is None:
                raise ValueError(
                    "personal_share > 0 needs the personal world (build_world(..., personal=True))"
                )
            for i in PERSONAL_INTENTS:  # every personal phrasing is covered: no weight for NLU misses
                for frame, _ in i.frames:
                    phrasings = [p for p in i.phrasings if p.slots == frame]
                    self.phrasing_cum[(i.key, frame)] = (phrasings, cumulative([p.weight for p in phrasings]))
            self.profiles = Profiles(catalog.personal, cfg, seed, catalog, self.phrasing_cum)

    # -- users ---------------------------------------------------------------------------------
    def make_user(self, idx: int, rng: random.Random) -> User:
        """The profile of user `idx` (deterministic for the rng's seed; `memory` starts as pre-taught)."""
        cat = self.cat
        rand = rng.random
        zipf = self.zipf
        u = User()
        u.idx = idx
        u.id = f"u{mix64(idx ^ self._salt):016x}"
        u.tz, u.locale, _ = TIMEZONES[pick_cumulative(_TZ_CUM, rand())]
        n_devices = 1 + pick_cumulative(_N_DEVICES_CUM, rand())
        types = ["speaker" if rand() < 0.5 else DEVICE_TYPES[pick_cumulative(_DEVICE_CUM, rand())]]
        while len(types) < n_devices:
            types.append(DEVICE_TYPES[pick_cumulative(_DEVICE_CUM, rand())])
        u.devices = [(f"d{mix64(((idx << 2) | k) ^ ~self._salt):016x}", t) for k, t in enumerate(types)]
        u.device_cum = _DEVICE_PICK_CUM[n_devices]
        commute = [(8.0 if t == "car" else 1.0) * w for t, w in zip(types, (3.0, 1.0, 1.0), strict=False)]
        u.device_cum_commute = cumulative(commute)
        u.hour_cum = _RHYTHM_CUMS[int(rand() * len(_RHYTHM_CUMS))]
        u.session_rate = self.cfg.sessions_per_user_day * rng.lognormvariate(-0.18, 0.6)
        u.asr_factor = rng.lognormvariate(-0.125, 0.5)
        u.team = zipf("team", rng) if rand() < 0.6 else None
        u.cuisine = zipf("cuisine", rng)
        u.city = zipf("city", rng)
        u.cities = [zipf("city", rng), zipf("city", rng)]
        u.genres = [zipf("genre", rng), zipf("genre", rng)]
        u.artists = [zipf("artist", rng) for _ in range(3 + int(rand() * 6))]
        rooms = cat.by_kind["room"]
        u.rooms = [rooms[int(rand() * len(rooms))] for _ in range(2 + int(rand() * 4))]
        u.has_oven = rand() < 0.35
        apps = self._appliances[u.has_oven]
        u.appliances = [apps[int(rand() * len(apps))] for _ in range(2 + int(rand() * 5))]
        u.memory = {"team": u.team} if u.team is not None and rand() < 0.15 else {}  # taught before the run
        u.routines = []
        for _ in range(1 + int(rand() * 5)):
            bucket = _BUCKETS[int(rand() * 4)]  # a routine belongs to a time of day
            intent, slots = self.draw_goal(u, rng, bucket, False, _NO_STATE)
            if intent.domain == "preferences":
                continue
            phrasings, cum = self.phrasing_cum[(intent.key, tuple(k for k, _ in slots))]
            u.routines.append((intent, slots, phrasings[pick_cumulative(cum, rand())].template, bucket))
        u.treated = False
        u.personal = None  # built on first use (`Profiles.of`)
        u.news_source = u.music_service = u.changes = None
        if self._prefs:
            self._preferences(u)
        return u

    def _preferences(self, u: User) -> None:
        """The user's news source and music service, and the change of a preference they make, if any."""
        cfg, h = self.cfg, mix64(u.idx ^ self._prefs_salt)
        k = [0]

        def rand() -> float:  # the user's own uniforms in [0, 1)
            k[0] += 1
            return (mix64(h + k[0]) >> 11) / 9007199254740992.0

        if rand() < cfg.news_source_share:
            u.news_source = self._popular("news_source", rand())
        if rand() < cfg.music_service_share:
            u.music_service = self._popular("music_service", rand())
        if rand() < cfg.preference_change_share and cfg.days > 1:
            kinds = [k for k in CHANGEABLE if getattr(u, k) is not None]
            kind = kinds[int(rand() * len(kinds))]
            old, idxs = getattr(u, kind), self.cat.by_kind[kind]
            others = [i for i in idxs[: self.cat.head_size[kind]] if i != old]
            day = cfg.start.toordinal() + 1 + int(rand() * (cfg.days - 1))
            u.changes = (kind, day, others[int(rand() * min(len(others), 12))])  # another popular one

    def _popular(self, kind: str, r: float) -> int:
        idxs, cum, total, _ = self._zipf[kind]
        return idxs[bisect(cum, r * total)]

    @staticmethod
    def apply_changes(u: User, ordinal: int) -> None:
        """The user's preferences as they are on the day `ordinal` (after a change, the new one)."""
        if u.changes is not None and ordinal >= u.changes[1]:
            setattr(u, u.changes[0], u.changes[2])

    def zipf(self, kind: str, rng: random.Random) -> int:
        """An entity of `kind`, popular ones more often (Zipf); with `long_tail_share`, any of the tail."""
        idxs, cum, total, tail = self._zipf[kind]
        if tail and self._tail_share and rng.random() < self._tail_share:
            return idxs[len(cum) + int(rng.random() * tail)]
        return idxs[bisect(cum, rng.random() * total)]

    # -- goals ----------------------------------------------------------------------------------
    def goal(self, u: User, rng: random.Random, hour: int, device_type: str, state: dict):
        """(intent, slots, habitual phrasing or None, the user's own thing it is about or None) the user
        wants now."""
        has_screen = device_type in SCREEN_DEVICES
        if self.profiles is not None and rng.random() < self._personal_share:
            mine = self.profiles.goal(u, rng, has_screen)
            if mine is not None:
                return mine
        bucket = _BUCKET_OF_HOUR[hour]
        if u.routines and rng.random() < self.cfg.routine_share:
            intent, slots, phrasing, routine_bucket = u.routines[int(rng.random() * len(u.routines))]
            if (routine_bucket == bucket or rng.random() < 0.3) and (has_screen or not intent.screen_only):
                return intent, slots, phrasing, None
        if state.get("media") == "playing" and rng.random() < 0.25:
            return INTENT_BY_KEY[MEDIA_CONTROLS[int(rng.random() * 3)]], (), None, None
        if state.get("oven") == "on" and rng.random() < 0.12:
            return INTENT_BY_KEY["smart_home.oven_temperature"], (), None, None
        intent, slots = self.draw_goal(u, rng, bucket, has_screen, state)
        return intent, slots, None, None

    def draw_goal(self, u: User, rng: random.Random, bucket: str, has_screen: bool, state: dict):
        intents, cum = self.intent_cum[(bucket, has_screen)]
        intent = intents[pick_cumulative(cum, rng.random())]
        if intent.key == "preferences.set_team" and u.team is None:
            intent = INTENT_BY_KEY["sports.get_score"]
        frames = intent.frames
        frame = frames[pick_cumulative(self.frame_cum[intent.key], rng.random()) if len(frames) > 1 else 0][0]
        if intent.key == "music.play_song" and len(frame) == 2:  # "play <song> by <its artist>"
            song = self.zipf("song", rng)
            return intent, (("artist", self.cat.entities[song].parent), ("song", song))
        return intent, tuple((kind, self.entity_for(u, rng, intent, kind)) for kind in frame)

    def reformulation(self, u: User, rng: random.Random, intent: Intent, slots: tuple, has_screen: bool):
        """What a user asks instead after a failure: another request of the same domain, (intent, slots).

        Half the time another intent of the domain (keeping the entities it takes: "who is X" -> "when
        was X born"), else the same intent with one more detail ("what's the weather" -> "... in
        <city>") or another entity of a kind it names. None when the domain offers nothing else."""
        sibs, cum = self.sibling_cum[(intent.key, has_screen)]
        keep = dict(slots)
        # more detail: a frame with more slots (a song's own artist is no more detail: the same song)
        bigger = [f for f, _ in intent.frames if set(keep) < set(f) and intent.key != "music.play_song"]
        if sibs and (rng.random() < 0.5 or not (slots or bigger)):
            new = sibs[pick_cumulative(cum, rng.random())]
            frame = new.frames[pick_cumulative(self.frame_cum[new.key], rng.random())][0]
            return new, self._fill(u, rng, new, frame, keep)
        if bigger and (not slots or rng.random() < 0.5):
            return intent, self._fill(u, rng, intent, bigger[0], keep)
        if not slots:
            return None
        kinds = tuple(keep)
        # another song (with its own artist where the request named one), else another entity of a kind
        kind = "song" if intent.key == "music.play_song" else kinds[int(rng.random() * len(kinds))]
        for attempt in range(6):  # the user's own picks first, then anything popular
            other = self.entity_for(u, rng, intent, kind) if attempt < 3 else self.zipf(kind, rng)
            if other != keep[kind]:
                keep[kind] = other
                return intent, self._fill(u, rng, intent, kinds, keep)
        return None

    def _fill(self, u: User, rng: random.Random, intent: Intent, frame: tuple, keep: dict) -> tuple:
        """The slots of `frame`, taken from `keep` where it has the kind, drawn otherwise."""
        if intent.key == "music.play_song" and len(frame) == 2:  # the song's own artist
            song = keep.get("song")
            if song is None:
                song = self.zipf("song", rng)
            return (("artist", self.cat.entities[song].parent), ("song", song))
        return tuple((k, keep[k] if k in keep else self.entity_for(u, rng, intent, k)) for k in frame)

    def entity_for(self, u: User, rng: random.Random, intent: Intent, kind: str) -> int:
        r = rng.random()
        if kind == "artist" and r < 0.45:
            return u.artists[int(rng.random() * len(u.artists))]
        if kind == "genre" and r < 0.6:
            return u.genres[r < 0.3]
        if kind == "team" and u.team is not None and (r < 0.75 or intent.key == "preferences.set_team"):
            return u.team
        if kind == "cuisine" and (r < 0.65 or intent.key == "preferences.set_cuisine"):
            return u.cuisine
        if kind == "city":
            return u.city if r < 0.3 else u.cities[0] if r < 0.5 else self.zipf("city", rng)
        if kind == "room":
            return u.rooms[int(rng.random() * len(u.rooms))]
        if kind == "appliance":
            return u.appliances[int(rng.random() * len(u.appliances))]
        return self.zipf(kind, rng)


def _misunderstood(intent: Intent, phrasing: Phrasing, catalog: Catalog, nlu: Nlu) -> bool:
    """Whether the assistant's grammar gets this wording wrong (tried with unambiguous names)."""
    names = {}
    for kind in phrasing.slots:
        ents = (catalog.entities[i] for i in catalog.by_kind[kind])
        names[kind] = next(e.name for e in ents if nlu.gazetteer.get(e.name) == {kind})
    p = nlu.parse(phrasing.template.format_map(names))
    return p.intent != intent.key or {k for k, v in p.slots if v != MY and k != "query"} != set(
        phrasing.slots
    )
