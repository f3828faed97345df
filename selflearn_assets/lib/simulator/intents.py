"""What users ask for: intents, their slot frames, and how users phrase them.

Users phrase requests more ways than the assistant understands. The assistant's own grammar lives in
`nlu.py`; a user phrasing it does not cover (or covers with another meaning: "i want to listen to
<artist>" is an audiobook request to it) is a recurring NLU failure. A slot is named after the kind
of entity it holds (`catalog.py`). `detail` phrasings add words that make a request explicit; users
reach for them when rephrasing.

`my_*` phrasings leave the slot out ("how did my team do"): the assistant fills it from what the user
taught it ("i'm a warriors fan"), or asks.

`PREFERENCE_INTENTS` are the statements of the preferences a request relies on without naming them
(`catalog.AMBIENT_KINDS`: "i get my news from bbc", "use spotify for music"), stated by users who have one
(`SimConfig.news_source_share`, `music_service_share`); kept out of `INTENTS` like the personal ones. Their
phrasings come in two disjoint sets (`PREFERENCE_PHRASINGS`, `teaching.phrasing_set`): the world's last days
use the held-out one; the assistant's grammar understands both.

`PERSONAL_INTENTS` are requests about a user's own things (`personal.py`): calling a contact, playing
one of their playlists, switching one of their named devices. They are asked only when
`SimConfig.personal_share` > 0, kept out of `INTENTS` (whose list the rest of the world is drawn
from), and every phrasing of theirs is one the assistant's personal grammar covers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SCREEN_DEVICES = ("screen", "tv", "phone")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Phrasing:
    template: str
    weight: float
    detail: bool
    slots: tuple[str, ...]  # sorted placeholder names


@dataclass
class Intent:
    key: str
    frames: list[tuple[tuple[str, ...], float]]  # slot sets a goal of this intent has, with weights
    phrasings: list[Phrasing]
    screen_only: bool = False
    implicit_slot: str | None = None  # filled from the user's taught preference by the `my` phrasings
    my_phrasings: list[str] = field(default_factory=list)
    index: int = 0

    @property
    def domain(self) -> str:
        return self.key.split(".")[0]


def _intent(key: str, frames, phrasings, **kw) -> Intent:
    out = []
    for text, weight, *flag in phrasings:
        slots = tuple(sorted(_PLACEHOLDER.findall(text)))
        out.append(Phrasing(text, float(weight), bool(flag), slots))
    return Intent(key, [(tuple(sorted(f)), float(w)) for f, w in frames], out, **kw)


# fmt: off
INTENTS: list[Intent] = [
    _intent("music.play_artist", [(("artist",), 1)], [
        ("play {artist}", 10), ("play some {artist}", 3), ("play music by {artist}", 2, "+"),
        ("play songs by {artist}", 1.5, "+"), ("can you play {artist}", 1), ("i want to listen to {artist}", 0.7),
        ("throw on some {artist}", 0.5), ("put on {artist}", 1),
    ]),
    _intent("music.play_song", [(("song",), 0.8), (("artist", "song"), 0.2)], [
        ("play {song}", 10), ("play the song {song}", 2, "+"), ("can you play {song}", 1),
        ("i want to hear {song}", 0.6), ("play {song} by {artist}", 4, "+"),
        ("play the song {song} by {artist}", 1, "+"),
    ]),
    _intent("music.play_genre", [(("genre",), 1)], [
        ("play {genre}", 3), ("play some {genre}", 4), ("play {genre} music", 3, "+"), ("put on some {genre}", 0.6),
        ("i'm in the mood for {genre}", 0.4),
    ]),
    _intent("music.pause", [((), 1)], [
        ("pause", 4), ("stop", 3), ("pause the music", 1, "+"), ("stop the music", 1, "+"), ("shut up", 0.3),
    ]),
    _intent("music.next", [((), 1)], [
        ("next", 2), ("next song", 3, "+"), ("skip", 2), ("skip this song", 1, "+"), ("play the next one", 0.5),
    ]),
    _intent("music.volume_up", [((), 1)], [
        ("volume up", 2), ("turn it up", 3), ("louder", 2), ("turn the volume up", 1, "+"), ("crank it up", 0.3),
    ]),
    _intent("video.play_film", [(("film",), 1)], [
        ("play {film}", 6), ("watch {film}", 3), ("play the movie {film}", 2, "+"), ("i want to watch {film}", 1.5),
        ("put on {film}", 1), ("show me the movie {film}", 0.5, "+"),
    ], screen_only=True),
    _intent("video.play_show", [(("show",), 1)], [
        ("play {show}", 5), ("watch {show}", 3), ("play the show {show}", 1.5, "+"),
        ("play the next episode of {show}", 1, "+"), ("put on {show}", 1),
    ], screen_only=True),
    _intent("audiobooks.play_book", [(("book",), 1)], [
        ("play {book}", 4), ("read {book}", 4), ("play the audiobook {book}", 2, "+"), ("read me {book}", 1.5),
        ("i want to listen to {book}", 1), ("continue {book}", 0.4),
    ]),
    _intent("audiobooks.resume_book", [((), 1)], [
        ("resume my book", 2), ("continue my audiobook", 2, "+"), ("keep reading", 1), ("where was i in my book", 0.4),
    ]),
    _intent("weather.get_weather", [((), 0.6), (("city",), 0.4)], [
        ("what's the weather", 6), ("what's the weather like", 2), ("how's the weather", 1),
        ("do i need an umbrella", 0.7), ("what's the weather in {city}", 5), ("weather in {city}", 2),
        ("what's the weather like in {city}", 2, "+"), ("will it rain in {city}", 0.6), ("forecast for {city}", 0.6),
    ]),
    _intent("weather.get_temperature", [((), 0.5), (("city",), 0.5)], [
        ("what is the temperature", 3), ("what's the temperature", 3), ("how cold is it outside", 1),
        ("what's the temperature in {city}", 3, "+"), ("how hot is it in {city}", 0.35),
    ]),
    _intent("smart_home.turn_on", [(("appliance",), 0.6), (("appliance", "room"), 0.4)], [
        ("turn on the {appliance}", 6), ("turn the {appliance} on", 2), ("switch on the {appliance}", 1.5),
        ("{appliance} on", 0.3), ("turn on the {room} {appliance}", 4), ("turn on the {appliance} in the {room}", 2, "+"),
    ]),
    _intent("smart_home.turn_off", [(("appliance",), 0.6), (("appliance", "room"), 0.4)], [
        ("turn off the {appliance}", 6), ("turn the {appliance} off", 2), ("switch off the {appliance}", 1.5),
        ("kill the {appliance}", 0.3), ("turn off the {room} {appliance}", 4),
        ("turn off the {appliance} in the {room}", 2, "+"),
    ]),
    _intent("smart_home.set_thermostat", [(("temperature",), 1)], [
        ("set the thermostat to {temperature}", 4, "+"), ("set the temperature to {temperature}", 3),
        ("make it {temperature}", 0.6),
    ]),
    _intent("smart_home.oven_temperature", [((), 1)], [
        ("what's the oven temperature", 3, "+"), ("how hot is the oven", 2), ("what is the temperature", 2),
        ("what's the temperature", 1),
    ]),
    _intent("timers.set_timer", [(("duration",), 1)], [
        ("set a timer for {duration}", 8), ("timer for {duration}", 2), ("start a timer for {duration}", 1, "+"),
        ("remind me in {duration}", 0.3), ("{duration} timer", 0.3),
    ]),
    _intent("timers.set_alarm", [(("time",), 1)], [
        ("set an alarm for {time}", 6, "+"), ("wake me up at {time}", 3), ("alarm for {time}", 1.5),
        ("set my alarm to {time}", 0.4),
    ]),
    _intent("timers.cancel", [((), 1)], [
        ("cancel the timer", 3, "+"), ("stop the timer", 2), ("cancel my alarm", 2), ("turn off the alarm", 0.6),
    ]),
    _intent("shopping.add_to_list", [(("product",), 1)], [
        ("add {product} to my shopping list", 5, "+"), ("add {product} to my list", 4), ("put {product} on my list", 1.5),
        ("we need {product}", 0.4), ("add {product}", 1),
    ]),
    _intent("shopping.order", [(("product",), 1)], [
        ("order {product}", 4), ("buy {product}", 2), ("reorder {product}", 1.5), ("order some {product}", 0.3),
    ]),
    _intent("knowledge.who_is", [(("person",), 1)], [
        ("who is {person}", 5), ("tell me about {person}", 2, "+"),
    ]),
    _intent("knowledge.birth_date", [(("person",), 1)], [
        ("when was {person} born", 4, "+"), ("how old is {person}", 0.8),
    ]),
    _intent("knowledge.height", [(("landmark",), 1)], [
        ("how tall is {landmark}", 5), ("what's the height of {landmark}", 1.5, "+"),
    ]),
    _intent("knowledge.author_of", [(("book",), 1)], [
        ("who wrote {book}", 5), ("who is the author of {book}", 2, "+"),
    ]),
    _intent("news.get_news", [((), 0.6), (("topic",), 0.4)], [
        ("what's the news", 4), ("play the news", 3), ("what's in the news", 1), ("give me the {topic} news", 2),
        ("what's the latest in {topic}", 1.5, "+"), ("{topic} news", 1),
    ]),
    _intent("sports.get_score", [(("team",), 1)], [
        ("how did the {team} do", 5), ("what's the {team} score", 3, "+"), ("did the {team} win", 2),
        ("{team} score", 1), ("how are the {team} doing", 0.5),
    ], implicit_slot="team", my_phrasings=["how did my team do", "did my team win", "what's my team's score"]),
    _intent("local.find_restaurant", [((), 0.3), (("cuisine",), 0.7)], [
        ("find me a {cuisine} restaurant", 4), ("find a {cuisine} restaurant near me", 2, "+"),
        ("where can i get {cuisine} food", 1.5), ("i'm hungry for {cuisine}", 0.3),
        ("find me a restaurant", 3), ("find a restaurant near me", 1),
    ], implicit_slot="cuisine", my_phrasings=["find me a restaurant", "find a restaurant near me", "where should i eat"]),
    _intent("preferences.set_team", [(("team",), 1)], [
        ("i'm a {team} fan", 5), ("my team is the {team}", 2), ("i root for the {team}", 1),
    ]),
    _intent("preferences.set_cuisine", [(("cuisine",), 1)], [
        ("i like {cuisine} food", 4), ("my favorite food is {cuisine}", 2), ("i love {cuisine} food", 2),
    ]),
]
PERSONAL_INTENTS: list[Intent] = [
    _intent("communication.call", [(("contact",), 1)], [
        ("call {contact}", 8), ("phone {contact}", 1), ("give {contact} a call", 1.5), ("dial {contact}", 0.5),
    ]),
    _intent("music.play_playlist", [(("playlist",), 1)], [
        ("play my {playlist} playlist", 6, "+"), ("play the {playlist} playlist", 2), ("play playlist {playlist}", 1),
        ("shuffle my {playlist} playlist", 1),
    ]),
    _intent("smart_home.turn_on", [(("device",), 1)], [
        ("turn on the {device}", 6), ("turn the {device} on", 2), ("switch on the {device}", 1.5),
    ]),
    _intent("smart_home.turn_off", [(("device",), 1)], [
        ("turn off the {device}", 6), ("turn the {device} off", 2), ("switch off the {device}", 1.5),
    ]),
]
# statements of an ambient preference, by phrasing set (train / heldout: disjoint)
PREFERENCE_PHRASINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "preferences.set_news_source": {
        "train": ("i get my news from {news_source}", "my news source is {news_source}",
                  "i listen to {news_source} for news"),
        "heldout": ("i prefer news from {news_source}", "{news_source} is where i get my news",
                    "use {news_source} for my news"),
    },
    "preferences.set_music_service": {
        "train": ("use {music_service} for music", "my music service is {music_service}",
                  "i listen to music on {music_service}"),
        "heldout": ("play music on {music_service} by default", "i use {music_service} for my music",
                    "{music_service} is my music app"),
    },
}
PREFERENCE_INTENTS: list[Intent] = [
    _intent(key, [((key.removeprefix("preferences.set_"),), 1)], [(t, 1) for s in sets.values() for t in s])
    for key, sets in PREFERENCE_PHRASINGS.items()
]
# fmt: on
for _i, _intent_ in enumerate(INTENTS):
    _intent_.index = _i
INTENT_BY_KEY = {i.key: i for i in INTENTS + PREFERENCE_INTENTS}
PERSONAL_INTENT_BY_KEY = {i.key: i for i in PERSONAL_INTENTS}
DOMAINS = sorted({i.domain for i in INTENTS})

# intent of a turn that was not addressed to the assistant at all (gold label of a false wake)
FALSE_WAKE_INTENT = "system.false_wake"
