"""The simulated assistant: wake word -> ASR -> (rewrite) -> NLU -> ER -> fulfilment -> response.

Each stage fails the way real ones do, and recurringly:

- wake: background speech (`vocab.TV_CHATTER`, or nothing) wakes the device, with lower wake scores;
- ASR: an entity's name is misheard as its one fixed confusion ("maj and dragons"), a word is
  dropped, or a common word is misheard ("turn of the lights");
- rewrite: for treatment users a rewrite table replaces the heard text before NLU;
- NLU (`nlu.py`): uncovered phrasings, colliding patterns, context-blind ambiguity;
- ER: partial titles and nicknames, namesakes;
- fulfilment: the wrong item (a random error, or an entity it always gets wrong without detail);
- false success: a misunderstood request it would refuse (a name ER does not know, a question the web
  has no answer to) is, with probability `wrong_success_rate`, executed on a guess and reported as a
  success naming what it did: ER fuzzy-matches the name to another entity of the kind (the most
  popular one sharing a word with it, never the one the user meant: that would not be a
  misunderstanding), the web fallback answers anyway. The turn's first failing stage is unchanged
  (the guess hides the failure from the logs, not from the gold); `Turn.guessed` tells the user's
  side, who notices it only sometimes (`behaviour.py`).

A user's own things (`personal.py`): ER resolves contacts, playlists and named devices from the user's
own registry, and never guesses one (it says it could not find the name); a name two towns share
("wilkerson") is the popular town, and where the user meant the other one the turn fails at the
result (the request was heard, understood and resolved as said; the item is the wrong one); a user's
own mishearing is the recogniser's fixed confusion for that user (`confusion` with its probability).

What users teach (`teaching.py`) lives in the runtime (`Assistant.runtime`, the platform's `Rewriter` with
taught items only): the assistant tells it every teaching (`learn`: "i'm a warriors fan", a concept defined
in its teaching dialogue or stated unasked) and asks it about every request first, so a taught concept or
preference reaches NLU as the runtime's rewrite (logged as `rewrite_applied`, layer `personal`). A request it
cannot handle that asks for a name by an activation ("turn on study mode") is a teachable moment: it asks
what the name means, and takes the user's next turn as the definition. With `SimConfig.teaching` off the
runtime keeps nothing (an A/B control).

Preferences a request relies on without naming them (`catalog.AMBIENT_KINDS`: "play the news" means the user's
news source, "play imagine dragons" their music service): the assistant uses its default (the first of the kind)
unless the request names one ("... from bbc", "... on spotify", as the runtime rewrites it for a user who taught
it). A goal carries the one its user wants as a slot (only where it is not the default); a turn otherwise right
that served another fails at the result, like generic restaurants for a user who likes Thai. A request that
names one where the goal wants none (a film "on spotify", the runtime's rewrite of "play <film>") is served
without it.

`first_failure` is the first stage that failed irrecoverably: the ASR is to blame when what it heard
parses differently from what was said (and no rewrite restored it); a rewrite that changed the
meaning of a well-heard request counts as NLU. A clarifying question for a preference the user never
taught ("which team?") is the right behaviour, labelled `correct`.
"""

from __future__ import annotations

import random
import string

from selflearn_assets.lib.simulator import teaching, vocab
from selflearn_assets.lib.simulator.catalog import AMBIENT_KINDS, Catalog
from selflearn_assets.lib.simulator.config import SimConfig
from selflearn_assets.lib.simulator.intents import SCREEN_DEVICES
from selflearn_assets.lib.simulator.nlu import FALLBACK_INTENT, MY, Nlu, Parse
from selflearn_assets.lib.simulator.personal import Profiles, WrongItems
from selflearn_assets.lib.simulator.text import noise, normalize_text, stable_unit

# fmt: off
NLU_CONFIDENCE = {"typed": 0.9, "ambiguous": 0.68, "untyped": 0.6, "fixed": 0.93, "keyword": 0.5,
                  "fallback": 0.3, "empty": 0.05}
CONDITIONS = ["sunny skies", "light rain", "clouds", "snow showers", "clear skies", "fog", "scattered showers"]
RESPONSES = {
    "music.play_artist": "Playing songs by {e}.",
    "music.play_song": "Playing {e} by {p}.",
    "music.play_genre": "Playing a {e} station.",
    "music.pause": "",
    "music.next": "",
    "music.volume_up": "",
    "video.play_film": "Here's {e}.",
    "video.play_show": "Playing {e}, season {n1}, episode {n2}.",
    "audiobooks.play_book": "Here's {e}, the audiobook.",
    "audiobooks.resume_book": "Resuming your book.",
    "weather.get_weather": "Right now in {c}, it's {deg} degrees with {cond}.",
    "weather.get_temperature": "It's {deg} degrees in {c}.",
    "smart_home.turn_on": "Okay.",
    "smart_home.turn_off": "Okay.",
    "smart_home.set_thermostat": "The thermostat is set to {e}.",
    "smart_home.oven_temperature": "The oven is at {oven} degrees.",
    "timers.set_timer": "{E} timer, starting now.",
    "timers.set_alarm": "Your alarm is set for {e}.",
    "timers.cancel": "Cancelled.",
    "shopping.add_to_list": "I've added {e} to your shopping list.",
    "shopping.order": "Okay, I've ordered {e}. It arrives tomorrow.",
    "knowledge.who_is": "{e} is a writer and public speaker, best known for work in the arts.",
    "knowledge.birth_date": "{e} was born on March {n2}, 19{n3}.",
    "knowledge.height": "{e} is {n3}0 meters tall.",
    "knowledge.author_of": "{e} was written by {author}.",
    "news.get_news": "Here's the latest {t}news. {headline}",
    "sports.get_score": "The {e} won {n3} to {n4} last night.",
    "local.find_restaurant": "Here are some {cu}restaurants near you. The closest is {restaurant}.",
    "preferences.set_team": "Got it, I'll remember you're a {e} fan.",
    "preferences.set_cuisine": "Okay, I'll remember that you like {e} food.",
    "preferences.set_news_source": "Okay, I'll play the news from {e}.",
    "preferences.set_music_service": "Okay, I'll play your music on {e}.",
    "communication.call": "Calling {e}.",
    "music.play_playlist": "Playing your playlist {e}.",
}
CLARIFY = {"timers.set_timer": "For how long?", "timers.set_alarm": "For what time?",
           "sports.get_score": "Which team? You can tell me your favorite, for example say: I'm a Warriors fan."}
HEADLINES = ["Markets closed higher on Tuesday.", "A storm is moving up the coast.", "The city council passed the budget.",
             "Scientists report a new comet sighting.", "The championship series starts tonight."]
# fmt: on
_FIELDS = {k: [f for _, f, _, _ in string.Formatter().parse(v) if f] for k, v in RESPONSES.items()}


class Turn:
    """What the assistant logged for one turn, and what the simulator knows about it."""

    __slots__ = ("asr_text", "asr_confidence", "nbest", "wake_score", "parse", "rewrite", "nlu_confidence",
                 "er_status", "er_entity_id", "response_text", "status", "duration_ms", "success", "failure",
                 "ask_pref", "wrong_media", "guessed", "teach", "ask_concept",
                 "taught")  # fmt: skip  (taught: the rewrite came from what the user taught, not a retrieval layer)


class Assistant:
    """The assistant's pipeline for one run (its caches are per run; the world is shared)."""

    def __init__(
        self,
        catalog: Catalog,
        nlu: Nlu,
        cfg: SimConfig,
        rewrites: dict[str, tuple[str, str, str]],
        profiles: Profiles | None = None,
    ):
        self.cat = catalog
        self.ents = catalog.entities
        self.nlu = nlu
        self.cfg = cfg
        self.rewrites = rewrites  # normalised source text -> (rewrite_id, source_text, rewrite_text)
        self.online: dict = {}  # online A/B arm -> the runtime's Rewriter (`rewrites.load_online_rewriters`)
        # the runtime that keeps what users taught (`lib/online/runtime.py`, taught items only; None: the world
        # has no teaching): consulted for every request, told every teaching (`learn`)
        self.runtime = None
        self._norm: dict[str, str] = {}
        self._alt: dict[str, str] = {}
        self._qa: dict[str, bool] = {}
        # the item fulfilment returns by mistake: the next entity of the same kind in popularity order
        # (within the head, or within the tail)
        self.wrong = {}
        for kind, all_idxs in catalog.by_kind.items():
            n = catalog.head_size[kind]
            for idxs in (all_idxs[:n], all_idxs[n:]):
                for pos, idx in enumerate(idxs):
                    self.wrong[idx] = idxs[(pos + 1) % len(idxs)]
        self.profiles = profiles  # the users' own things and registries (None: no personal sources)
        self.popular_of: dict[int, int] = {}  # a town that shares its name -> the one ER resolves it to
        if catalog.personal is not None:
            self.wrong = WrongItems(catalog.personal, self.wrong, catalog.personal.wrong)
            self.popular_of = catalog.personal.popular_of
        self._fuzzy: dict[tuple[str, str], int] = {}
        self._words: dict[str, dict[str, int]] | None = None  # kind -> word -> most popular head entity
        self._meant: dict[str, set[int]] | None = None  # a name ER does not know -> entities it may mean
        # what it uses where a request names no news source / music service
        self.defaults = {k: catalog.by_kind[k][0] for k in AMBIENT_KINDS if catalog.by_kind.get(k)}

    # -- speech --------------------------------------------------------------------------------
    def recognise(self, rng: random.Random, spoken: str, confusion: tuple | None, factor: float):
        """(heard text, an entity name was misheard) for what the user said. `confusion`: (name, what is
        heard instead), at the world's rate, or (name, heard, probability) for a user's own mishearing."""
        cfg = self.cfg
        heard = spoken
        entity_error = False
        if confusion is not None and rng.random() < (
            confusion[2] if len(confusion) > 2 else min(0.95, cfg.asr_entity_confusion_rate * factor)
        ):
            heard = heard.replace(confusion[0], confusion[1], 1)
            entity_error = True
        if rng.random() < cfg.asr_drop_rate * factor:
            words = heard.split()
            if len(words) > 1:
                del words[int(rng.random() * len(words))]
                heard = " ".join(words)
        if rng.random() < cfg.asr_word_error_rate * factor:
            words = heard.split()
            spots = [i for i, w in enumerate(words) if w in vocab.WORD_CONFUSIONS]
            if spots:
                i = spots[int(rng.random() * len(spots))]
                words[i] = vocab.WORD_CONFUSIONS[words[i]]
                heard = " ".join(words)
        return heard, entity_error

    def _asr_scores(self, rng: random.Random, spoken: str, heard: str, entity_error: bool):
        rand = rng.random
        if heard == spoken:
            conf = 0.88 + 0.07 * noise(rand)
        elif entity_error:
            conf = 0.74 + 0.12 * noise(rand)  # confidently wrong
        else:
            conf = 0.62 + 0.14 * noise(rand)
        conf = _score(min(0.99, max(0.02, conf)))
        nbest = [{"text": heard, "score": conf}]
        if heard != spoken and rand() < 0.7:
            nbest.append({"text": spoken, "score": _score(conf * (0.55 + 0.42 * rand()))})
        elif heard:
            alt = self._alt.get(heard)
            if alt is None:
                alt = self._alt[heard] = _alternative(heard)
            nbest.append({"text": alt, "score": _score(conf * (0.2 + 0.6 * rand()))})
        return conf, nbest

    def web_answer(self, query: str) -> bool:
        """Whether the web-search fallback finds something for `query` (fixed per query, ~30%)."""
        hit = self._qa.get(query)
        if hit is None:
            hit = self._qa[query] = stable_unit("qa", query) < 0.3
        return hit

    def normalize(self, text: str) -> str:
        out = self._norm.get(text)
        if out is None:
            if len(self._norm) > 400_000:
                self._norm.clear()
            out = self._norm[text] = normalize_text(text)
        return out

    # -- one request ----------------------------------------------------------------------------
    def request(
        self,
        rng: random.Random,
        spoken: str,
        confusion,
        user,
        device_type: str,
        state: dict,
        goal_intent: str,
        goal_slots: tuple,
        treated: bool,
        asked: str | None = None,
    ) -> Turn:
        """Run a real request through the pipeline and judge it against the user's goal. `asked`: the concept
        the assistant asked the user to define on their previous turn (this turn is the answer)."""
        t = Turn()
        heard, entity_error = self.recognise(
            rng, spoken, confusion, user.asr_factor * (1.5 if device_type == "car" else 1.0)
        )
        t.asr_text = heard
        t.asr_confidence, t.nbest = self._asr_scores(rng, spoken, heard, entity_error)
        t.wake_score = _score(min(1.0, max(0.45, 0.9 + 0.06 * noise(rng.random))))
        t.teach = t.ask_concept = None
        if asked is not None:  # the user's answer to "what should I do when you say <asked>?"
            return self._teaching(rng, t, asked, teaching.answer_value(heard))
        said = teaching.statement(heard) if self.runtime is not None else None
        if said is not None:  # "when i say study mode turn on the reading nook lamp"
            return self._teaching(rng, t, *said)
        text = heard
        t.rewrite, t.taught = None, False
        if self.runtime is not None:  # what the user taught comes first, as in the runtime
            decision = self.runtime.rewrite(user.id, heard)
            if decision.rewrite is not None:
                t.rewrite = (decision.rewrite_id, heard, decision.rewrite, decision.layer)
                t.taught = True
                text = decision.rewrite
        if t.rewrite is None and treated and self.rewrites:
            hit = self.rewrites.get(self.normalize(heard))
            if hit is not None:
                t.rewrite = hit
                text = hit[2]
        if (
            t.rewrite is None and self.online and treated in self.online
        ):  # the runtime, as the user's arm has it
            decision = self.online[treated].rewrite(user.id, heard)
            if decision.rewrite is not None:
                t.rewrite = (decision.rewrite_id, heard, decision.rewrite, decision.layer)
                text = decision.rewrite
        p = t.parse = self.nlu.parse(text)
        resolved, unresolved, missing_pref = self.fulfil(
            rng, t, p, user, device_type, state, heard != spoken, guess=True
        )

        # judge: did this turn serve the goal, and if not, which stage failed first?
        my_kind = p.my_kind
        if my_kind is None and t.rewrite is not None and len(t.rewrite) > 3 and t.rewrite[3] == "personal":
            my_kind = self.nlu.parse(heard).my_kind  # "find me a restaurant" personalised by what was taught
        if my_kind is not None and all(k != my_kind for k, _ in goal_slots):
            resolved = tuple(
                r for r in resolved if r[0] != my_kind
            )  # asked generically: personalising is fine
            missing_pref = None
        wanted = served = None
        other_served = False  # right but for the ambient preference served
        if (
            p.kinds.isdisjoint(_AMBIENT) and not (goal_slots and goal_slots[-1][0] in _AMBIENT)
        ) or goal_intent.startswith("preferences."):
            pass  # (a goal's ambient preference is its last slot: `behaviour.DaySimulator.pursue`)
        else:  # judged apart: which one was served
            wanted = next(((k, v) for k, v in goal_slots if k in _AMBIENT), None)
            named = dict(r for r in resolved if r[0] in _AMBIENT)
            goal_slots = tuple(g for g in goal_slots if g[0] not in _AMBIENT)
            resolved = tuple(r for r in resolved if r[0] not in _AMBIENT)
            if wanted is not None:
                served = named.get(wanted[0], self.defaults[wanted[0]])
        t.success = (
            p.intent == goal_intent
            and unresolved is None
            and t.status == "success"
            and resolved == goal_slots
            and not t.wrong_media
        )
        if t.success and wanted is not None and served != wanted[1]:
            t.success = False
            other_served = True  # the news from its default source, the song on its default service
        t.ask_pref = None
        if (
            not t.success
            and t.status == "unsupported"
            and self.runtime is not None
            and self.runtime.teaching
            and (t.rewrite is None or len(t.rewrite) < 4 or t.rewrite[3] != "personal")
        ):  # a teachable moment: ask what it means
            t.ask_concept = teaching.asks_about(heard)
            if t.ask_concept is not None:
                t.status, t.response_text = "clarify", teaching.ASK.format(concept=t.ask_concept)
                t.duration_ms = int(350 + 62 * len(t.response_text) + rng.random() * 400)
        if t.success:
            t.failure = "correct"
        elif other_served:
            t.failure = "result"
        elif missing_pref == "team" and p.intent == goal_intent:
            t.failure, t.ask_pref = "correct", "team"
        else:
            t.failure = self._first_failure(
                spoken, heard, t.rewrite, p, goal_intent, goal_slots, unresolved, resolved
            )
            if t.failure == "er" and missing_pref is not None and unresolved is None:
                t.failure = "result"  # generic results where the user wanted their preference
            elif (
                t.failure == "er"
                and self.popular_of
                and unresolved is None
                and _namesake(resolved, goal_slots, self.popular_of)
            ):
                t.failure = "result"  # "wilkerson" is the popular town; this user meant the other one
            elif (
                t.failure == "er"
                and my_kind is not None
                and unresolved is None
                and (t.rewrite or ())[3:] == ("personal",)
            ):
                t.failure = "result"  # what the user taught before they changed their mind (a new team)
        if t.success and p.domain == "preferences" and resolved:  # "i'm a warriors fan": the runtime keeps it
            kind, idx = resolved[0]
            t.teach = (kind, self.ents[idx].name)
        return t

    def _teaching(self, rng, t: Turn, concept: str, definition: str) -> Turn:
        """A teaching turn: the assistant's teaching dialogue takes `definition` for `concept` (`learn` stores
        it once the turn has its event id) and confirms. Judged by the user's side (what they meant to teach)."""
        t.rewrite = None
        t.parse = Parse(teaching.TEACH_INTENT, (), "fixed")
        t.nlu_confidence = _score(min(0.99, max(0.01, 0.9 + 0.07 * noise(rng.random))))
        t.er_status, t.er_entity_id = "not_applicable", None
        t.response_text = teaching.CONFIRM.format(concept=concept, definition=definition)
        t.status = "success"
        t.duration_ms = int(350 + 62 * len(t.response_text) + rng.random() * 400)
        t.success, t.failure, t.ask_pref, t.wrong_media, t.guessed = True, "correct", None, False, False
        t.teach = (teaching.CONCEPT_KEY + concept, definition)
        return t

    def learn(self, user, turn: Turn, event_id: str, ts) -> None:
        """Tell the runtime what the user taught on this turn (`turn.teach`), as the assistant's teaching
        dialogue does, with the turn's event id as provenance."""
        if turn.teach is not None and self.runtime is not None:
            self.runtime.teach(user.id, turn.teach[0], turn.teach[1], event_id, ts=ts)

    def memory(self, user) -> dict[str, int]:
        """What the runtime says the user taught, as ER uses it: kind -> entity (a taught name ER does not
        know, e.g. misheard, is no use)."""
        if self.runtime is None:
            return {}
        out = {}
        for kind in ("team", "cuisine"):
            value = self.runtime.preference(user.id, kind)
            idx = self.nlu.er_index[kind].get(value) if value else None
            if idx is not None:
                out[kind] = idx
        return out

    def _first_failure(
        self, spoken, heard, rewrite, p: Parse, goal_intent, goal_slots, unresolved, resolved
    ) -> str:
        parse = self.nlu.parse
        p_spoken = parse(spoken)
        p_heard = parse(heard) if rewrite else p
        heard_differs = heard != spoken and _meaning(p_heard) != _meaning(p_spoken)
        restored = rewrite is not None and _meaning(p) == _meaning(p_spoken)
        if heard_differs and not restored:
            return "asr"
        if rewrite is not None and not heard_differs and _meaning(p) != _meaning(p_heard):
            return "nlu"  # the rewrite changed the meaning of a well-heard request
        if p.intent != goal_intent or p.kinds - _AMBIENT != {k for k, _ in goal_slots}:
            return "nlu"
        if unresolved is not None or resolved != goal_slots:
            return "er"
        return "result"

    def fulfil(
        self, rng, t: Turn, p: Parse, user, device_type: str, state: dict, heard_wrong: bool, guess=False
    ):
        """Fill the NLU/ER/response fields of `t`; returns ER's (resolved, unresolved, missing_pref).

        With `guess`, a request it would refuse may be executed on a guess (`wrong_success_rate`); what it
        returns is still what ER honestly resolved, which is what the turn is judged on."""
        intent = p.intent
        t.nlu_confidence = _score(
            min(
                0.99,
                max(
                    0.01,
                    NLU_CONFIDENCE[p.quality] + 0.07 * noise(rng.random) - (0.05 if heard_wrong else 0.0),
                ),
            )
        )
        registry = self.profiles.of(user).registry if p.personal and self.profiles is not None else None
        memory = self.memory(user) if p.my_kind is not None else {}  # "how did my team do"
        resolved, main, unresolved, missing_pref = self.nlu.resolve(p, memory, registry)
        if p.kinds:
            t.er_status = "unresolved" if unresolved or missing_pref else "resolved"
        else:
            t.er_status = "not_applicable"
        t.er_entity_id = self.ents[main].id if main is not None else None
        t.wrong_media = t.guessed = False
        guess_rate = self.cfg.wrong_success_rate if guess else 0.0
        if intent is None:
            t.response_text, t.status = "", "no_response"
        elif intent == FALLBACK_INTENT:
            if self.web_answer(p.slots[0][1]):
                t.response_text, t.status = "Here's something I found on the web.", "success"
            elif guess_rate and rng.random() < guess_rate:
                t.response_text, t.status, t.guessed = "Here's something I found on the web.", "success", True
            else:
                t.response_text, t.status = "Sorry, I don't know that one.", "unsupported"
        elif intent.startswith("video.") and device_type not in SCREEN_DEVICES:
            t.response_text, t.status = "Sorry, I can't play videos on this device.", "error"
        elif p.incomplete:
            t.response_text, t.status = CLARIFY.get(intent, "Sorry, what was that?"), "clarify"
        elif missing_pref == "team":
            t.response_text, t.status = CLARIFY["sports.get_score"], "clarify"
        elif unresolved is not None:
            if guess_rate and not p.personal and rng.random() < guess_rate:
                guessed, main = self._guess(p, memory)
                t.er_status, t.er_entity_id, t.guessed = "resolved", self.ents[main].id, True
                t.response_text = self._success_text(rng, t, intent, guessed, main, state)
                t.status = "success"
            else:
                t.response_text, t.status = f"Sorry, I couldn't find {unresolved}.", "error"
        else:
            t.response_text, t.status = self._success_text(rng, t, intent, resolved, main, state), "success"
        n = len(t.response_text)
        t.duration_ms = int(350 + 62 * n + rng.random() * 400) if n else 0
        return resolved, unresolved, missing_pref

    def _guess(self, p: Parse, memory: dict[str, int]) -> tuple[tuple, int]:
        """ER's fuzzy match of a parse with names it does not know: (resolved pairs, main entity)."""
        out = []
        index = self.nlu.er_index
        for kind, surface in p.slots:
            if kind == "query":
                continue
            if surface == MY:
                idx = memory.get(kind)
            else:
                idx = index[kind].get(surface)
                if idx is None:
                    idx = self._fuzzy.get((kind, surface))
                    if idx is None:
                        idx = self._fuzzy[(kind, surface)] = self._fuzzy_match(kind, surface)
            if idx is not None:
                out.append((kind, idx))
        found = dict(out)
        main = next(found[k] for k in p.main_kinds if k in found)
        return tuple(out), main

    def _fuzzy_match(self, kind: str, surface: str) -> int:
        """The most popular head entity of `kind` sharing a word with `surface` that the user cannot have
        meant by it, else a popular one (fixed per name)."""
        cat = self.cat
        if self._words is None:
            self._words, self._meant = {}, {}
            for k, idxs in cat.by_kind.items():
                words = self._words[k] = {}
                for idx in idxs[: cat.head_size[k]]:
                    for w in self.ents[idx].name.split():
                        if w not in _FUZZY_SKIP:
                            words.setdefault(w, idx)
            for ent in self.ents:
                for name in (*ent.aliases_unknown, ent.confusion):
                    if name:
                        self._meant.setdefault(name, set()).add(ent.idx)
        meant = self._meant.get(surface, ())
        words = self._words[kind]
        for w in surface.split():
            idx = words.get(w)
            if idx is not None and idx not in meant:
                return idx
        head = [i for i in cat.by_kind[kind][: min(30, cat.head_size[kind])] if i not in meant]
        return head[int(stable_unit("fuzzy", kind, surface) * len(head))]

    def _success_text(self, rng, t: Turn, intent: str, resolved, main, state: dict) -> str:
        ents = self.ents
        rand = rng.random
        if main is not None and (
            (ents[main].result_bug and len(resolved) == 1) or rand() < self.cfg.result_error_rate
        ):
            main = self.wrong[main]
            t.wrong_media = True  # what the response names (and plays) is not what was asked for
        template = RESPONSES.get(intent, "Okay.")
        fields = _FIELDS.get(intent)
        if not fields:
            return template
        e = ents[main] if main is not None else None
        name = e.display if e is not None else ""
        v = {}
        for f in fields:
            if f == "e":
                v[f] = name
            elif f == "E":
                v[f] = name.capitalize()
            elif f == "p":
                v[f] = (
                    ents[e.parent].display
                    if e is not None and e.parent is not None
                    else "the original artist"
                )
            elif f == "c":
                city = next((i for k, i in resolved if k == "city"), None)
                v[f] = (
                    ents[self.wrong[city] if t.wrong_media else city].display
                    if city is not None
                    else "your area"
                )
            elif f == "cond":
                v[f] = CONDITIONS[int(rand() * len(CONDITIONS))]
            elif f == "oven":
                v[f] = 350 + 25 * int(rand() * 4) if state.get("oven") == "on" else 0
            elif f == "author":
                persons = self.cat.by_kind["person"][: self.cat.head_size["person"]]  # authors are well known
                v[f] = ents[persons[e.idx % len(persons)]].display if e is not None else "an unknown author"
            elif f == "t":
                v[f] = (name.lower() + " ") if name else ""
            elif f == "headline":
                v[f] = HEADLINES[int(rand() * len(HEADLINES))]
            elif f == "cu":
                cuisine = next((i for k, i in resolved if k == "cuisine"), None)
                v[f] = (ents[cuisine].display + " ") if cuisine is not None else ""
            elif f == "restaurant":
                v[f] = f"{vocab.LAST_NAMES[int(rand() * len(vocab.LAST_NAMES))].title()}'s Kitchen"
            else:  # deg, n1..n4: small numbers
                v[f] = 10 + int(rand() * 85)
        return template.format_map(v)

    # -- background speech ------------------------------------------------------------------------
    def false_wake(self, rng: random.Random, user, device_type: str, state: dict) -> Turn:
        t = Turn()
        chatter = "" if rng.random() < 0.3 else vocab.TV_CHATTER[int(rng.random() * len(vocab.TV_CHATTER))]
        t.asr_text = chatter
        conf = _score(min(0.95, max(0.02, 0.45 + 0.15 * noise(rng.random)))) if chatter else 0.0
        t.asr_confidence = conf
        t.nbest = [{"text": chatter, "score": conf}] if chatter else []
        t.wake_score = _score(min(0.99, max(0.05, 0.58 + 0.14 * noise(rng.random))))
        t.rewrite = None
        p = t.parse = self.nlu.parse(chatter)
        self.fulfil(rng, t, p, user, device_type, state, True)
        t.success, t.failure, t.ask_pref, t.guessed = False, "false_wake", None, False
        t.teach = t.ask_concept = None
        return t


_FUZZY_SKIP = frozenset(("the", "of", "and", "a", "in", "my", "by"))
_AMBIENT = frozenset(AMBIENT_KINDS)


def _meaning(p: Parse) -> tuple:
    """What a parse means, an ambient preference it names aside (judged on its own: `Assistant.request`)."""
    if p.kinds.isdisjoint(_AMBIENT):
        return p.meaning
    return p.intent, tuple(s for s in p.slots if s[0] not in _AMBIENT)


def _namesake(resolved: tuple, goal_slots: tuple, popular_of: dict[int, int]) -> bool:
    """ER resolved the goal's entities, except a town it took for the popular one of its name."""
    if len(resolved) != len(goal_slots):
        return False
    swapped = False
    for (kind, got), (goal_kind, meant) in zip(sorted(resolved), sorted(goal_slots), strict=True):
        if kind != goal_kind:
            return False
        if got != meant:
            if popular_of.get(meant) != got:
                return False
            swapped = True
    return swapped


def _alternative(text: str) -> str:
    """A plausible runner-up hypothesis of the recogniser for `text`."""
    words = text.split()
    for i, w in enumerate(words):
        if w in vocab.WORD_CONFUSIONS:
            return " ".join(words[:i] + [vocab.WORD_CONFUSIONS[w]] + words[i + 1 :])
    for i, w in enumerate(words):
        if w in vocab.CONFUSIONS:
            return " ".join(words[:i] + [vocab.CONFUSIONS[w]] + words[i + 1 :])
    return " ".join(words[:-1]) if len(words) > 1 else text + "s"


def _score(x: float) -> float:
    return int(x * 1000.0 + 0.5) / 1000.0
