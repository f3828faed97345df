"""How users talk to the assistant over a day: sessions, goals, retries, barge-ins, feedback, teaching.

A user with concepts of their own (`teaching.py`) asks for one of their routines by its name ("turn on study
mode") with `concept_use` (`pursue_concept`): it fails until taught; they answer the assistant's question
(`teach_prob`), say the request itself, repeat the name or give up; with `state_prob` a session opens with
them defining a concept the runtime lacks or holds with an old meaning.

A session is one device picked up at one moment: a false wake (background speech, nothing meant), or
one or more goals. For each goal the user says a request; after a failure they barge in, then
rephrase a few seconds later (repeat it, reword it, add detail, or use the full name instead of a
nickname) or give up. When the assistant asks for a preference it was never taught ("which team?"),
the user may teach it ("i'm a warriors fan") and ask again. After a success they sometimes move on to
another goal. Turns are logged in the raw-log contract; what the simulator knows (first failing
stage, intended text, goal structure) goes to `Gold` only.

Two ways the logs mislead a miner of rephrases, as real ones do:

- reformulation (`reformulate_prob`): instead of rephrasing, a user who failed asks for something
  else of the same domain, as quickly as a rephrase ("do i have a meeting on saturday" -> "did you
  set the reminder for tomorrow"): another intent of the domain, or the same one with another or one
  more detail (`Population.reformulation`). Its gold is a new goal (`goal_start` true, `rephrase_of`
  null, its own intent, slots and intended text), which is what a careful annotator marks when the
  meaning changed; the abandoned goal is unsuccessful.
- claimed success (`wrong_success_rate`, `assistant.py`): when the assistant acted on a guess and
  said it succeeded, the user notices with probability `NOTICE_GUESS` (barges in as on wrong media,
  rephrases, gives negative feedback as after a failure) and otherwise moves on as after a success
  (asked for feedback, some check and find out: positive 60% of the time, not 92%); the goal is
  unsuccessful either way.

A goal about one of the user's own things (`personal_share`, `personal.py`) starts with the user's
habitual phrasing and habitual form of the name (a nickname, the bare name of their town) and their
own fixed mishearing (`confusion` with its probability); a retry says the name carefully or in full
(the same words or, with `personal.REWORD`, another phrasing), and is never a reformulation: users
retry their own things, so their successful rephrase is in their own history. Gold intended text is
what was said, except for a town said without its state where the user meant the rarer one.

A user with a news source or music service other than the assistant's default (`users.py`) wants it for every
"play the news" / "play <artist or song>": the goal carries it as a slot the request leaves out (truth
`preference_use`), a result failure until taught; on a retry that adds detail they name it ("... on spotify"),
and after such a success may teach it (`teach_prob` / 2), as for a team. While the runtime lacks it, or holds a
preference the user has changed since (`preference_change_share`), a session opens with the user stating it
with `state_prob` ("i get my news from bbc"; the phrasing set of the day, `teaching.phrasing_set`).
"""

from __future__ import annotations

import random
from datetime import datetime

from selflearn_assets.lib.simulator import teaching
from selflearn_assets.lib.simulator.annotate import in_audit_sample
from selflearn_assets.lib.simulator.assistant import Assistant, Turn
from selflearn_assets.lib.simulator.catalog import AMBIENT_KINDS, OPEN_KINDS, Catalog
from selflearn_assets.lib.simulator.config import SimConfig
from selflearn_assets.lib.simulator.intents import (
    FALSE_WAKE_INTENT,
    INTENT_BY_KEY,
    PREFERENCE_PHRASINGS,
    SCREEN_DEVICES,
    Intent,
)
from selflearn_assets.lib.simulator.nlu import AMBIENT_SUFFIXES
from selflearn_assets.lib.simulator.personal import CAREFUL_MISHEAR, HABIT, MISHEAR, REWORD, Own
from selflearn_assets.lib.simulator.rewrites import applied_record
from selflearn_assets.lib.simulator.text import mix64, noise, normalize_text, pick_cumulative, stable_int
from selflearn_assets.lib.simulator.users import COMMUTE_HOURS, Population, User

DAY_S = 86_400.0
LAST_SESSION_START_S = DAY_S - 900.0  # sessions are kept under 10 minutes, so none crosses midnight
MAX_SESSION_S = 480.0
MAX_GOALS = 6
NOTICE_GUESS = 0.5  # P(the user notices that a claimed success did the wrong thing)
TEACH_INTENT = {
    "team": "preferences.set_team",
    "cuisine": "preferences.set_cuisine",
    "news_source": "preferences.set_news_source",
    "music_service": "preferences.set_music_service",
}
# the requests that rely on an ambient preference (`catalog.AMBIENT_KINDS`), by intent: the kind, and whether
# a goal with slots relies on it too (a news request with a topic does not)
AMBIENT_INTENTS = {
    "news.get_news": ("news_source", False),
    "music.play_artist": ("music_service", True),
    "music.play_song": ("music_service", True),
}
DEFINE = Intent(teaching.TEACH_INTENT, [((), 1.0)], [])  # the goal of a teaching turn: to define a concept
# rephrase style by the stage that failed: (repeat, reword, add detail, full name)
STYLES = {
    "asr": (0.45, 0.25, 0.3, 0.0),
    "nlu": (0.15, 0.5, 0.35, 0.0),
    "er": (0.15, 0.2, 0.0, 0.65),
    "result": (0.5, 0.0, 0.5, 0.0),
    "correct": (0.3, 0.4, 0.3, 0.0),
}


class Gold:
    """What the simulator knows about one turn; becomes annotation records (never a log field)."""

    __slots__ = ("event_id", "failure", "goal_start", "goal_success", "intent", "slots", "rephrase_of",
                 "intended_text", "asr_text", "prev_event_id", "preference", "preference_use")  # fmt: skip

    def __init__(
        self, event_id, failure, goal_start, intent, slots, rephrase_of, intended_text, asr_text, prev
    ):
        self.event_id = event_id
        self.failure = failure
        self.goal_start = goal_start
        self.goal_success = False
        self.intent = intent
        self.slots = slots  # [{"name", "value"}] with canonical entity names
        self.rephrase_of = rephrase_of
        self.intended_text = intended_text
        self.asr_text = asr_text
        self.prev_event_id = prev
        self.preference = None  # {"key", "value"} the user taught on this turn
        self.preference_use = None  # the key of what this turn relies on having been taught


class Session:
    """The fixed fields of a session's records, its event counter, and the turns of the goal in progress."""

    __slots__ = ("id", "key", "user", "device_id", "device_type", "state", "arm", "turn_no", "last_event",
                 "annotated", "pending", "asked")  # fmt: skip


class DaySimulator:
    """Generates users' days of sessions; `emit(record, gold_or_None)` receives every turn, in order."""

    def __init__(
        self,
        cfg: SimConfig,
        catalog: Catalog,
        population: Population,
        assistant: Assistant,
        ab_configured: bool,
    ) -> None:
        self.cfg = cfg
        self.cat = catalog
        self.ents = catalog.entities
        self.pop = population
        self.assistant = assistant
        self.ab = ab_configured
        self.salt = stable_int(cfg.seed, "ids")
        # turns by first failing stage, and ("personal") defective turns from a user's own error
        self.stage_counts = dict.fromkeys(
            ("false_wake", "asr", "nlu", "er", "result", "correct", "personal"), 0
        )
        self.sessions = 0
        self._emit = None
        self._prefix = ""
        self._ordinal = 0
        self._concepts: dict[str, teaching.UserConcepts] = {}

    # -- a day ----------------------------------------------------------------------------------
    def user_day(self, u: User, day_ordinal: int, day_prefix: str, rng: random.Random, emit) -> None:
        """All sessions of user `u` on one day; `day_prefix` is "YYYY-MM-DDT"."""
        self._emit, self._prefix, self._ordinal = emit, day_prefix, day_ordinal
        if u.changes is not None:
            self.pop.apply_changes(u, day_ordinal)
        n = poisson(rng, u.session_rate)
        starts = []
        for _ in range(min(n, 255)):
            local = (pick_cumulative(u.hour_cum, rng.random()) + rng.random()) * 3600.0
            starts.append((local - u.tz * 3600.0) % DAY_S)
        starts.sort()
        cursor = 0.0
        for sno, start in enumerate(starts):
            start = max(start, cursor)
            if start > LAST_SESSION_START_S:
                break
            key = (((u.idx << 20) | (day_ordinal & 0xFFFFF)) << 8) | sno
            cursor = self.session(u, rng, start, key) + 60.0 + rng.random() * 600.0

    def session(self, u: User, rng: random.Random, t: float, key: int) -> float:
        """One session starting at `t` (seconds into the UTC day); returns when it ended."""
        cfg = self.cfg
        s = Session()
        s.key = key
        s.id = f"s{mix64(key ^ self.salt):016x}"
        s.user = u
        local_hour = int((t / 3600.0 + u.tz) % 24)
        cum = u.device_cum_commute if local_hour in COMMUTE_HOURS else u.device_cum
        s.device_id, s.device_type = u.devices[pick_cumulative(cum, rng.random())]
        s.state = _device_state(rng, u, local_hour, s.device_type)
        arm = u.treated
        s.arm = (arm if isinstance(arm, str) else "treatment" if arm else "control") if self.ab else None
        s.turn_no = 0
        s.last_event = None
        s.asked = None
        s.annotated = in_audit_sample(cfg.seed, s.id, cfg.annotation_rate)
        s.pending = []
        self.sessions += 1
        if rng.random() < cfg.false_wake_rate:
            turn = self.assistant.false_wake(rng, u, s.device_type, s.state)
            rec = self._record(s, turn, t)
            rec["barge_in"] = rng.random() < 0.3
            gold = None
            if s.annotated:
                gold = Gold(
                    rec["event_id"], "false_wake", True, FALSE_WAKE_INTENT, [], None, "", turn.asr_text, None
                )
            s.pending.append((rec, "false_wake", gold))
            self._flush(s)
            return t + 3.0 + turn.duration_ms / 1000.0
        # goals, while the session is young: a goal takes under 3 minutes, so no session crosses midnight
        start, goals, follow_up = t, 0, None
        mine = self.concepts(u)
        if (
            mine.concepts and rng.random() < cfg.state_prob
        ):  # tells the assistant what a concept means, unasked
            stale = self._stale(u, mine)
            if stale is not None:
                t = self._state(s, rng, t, stale, goal_start=True)
        if (
            u.news_source is not None or u.music_service is not None or u.changes is not None
        ) and rng.random() < cfg.state_prob:
            untold = self._untold(u)
            if untold is not None:  # "i get my news from bbc", unasked
                kind, value = untold
                t = self.pursue(s, rng, t, INTENT_BY_KEY[TEACH_INTENT[kind]], ((kind, value),), None)[0]
                goals += 1
                t += 4.0 + 36.0 * rng.random()
        while goals < MAX_GOALS and t - start < MAX_SESSION_S:
            if follow_up is not None:  # what the previous goal led to: teaching a preference, a reformulation
                intent, slots, _ = follow_up
                habit = own = None
            else:
                intent, slots, habit, own = self.pop.goal(u, rng, local_hour, s.device_type, s.state)
            concept = self._concept_for(mine, intent, slots) if mine.concepts and own is None else None
            if concept is not None and rng.random() < cfg.concept_use:  # asks for it by its own name
                t, success = self.pursue_concept(s, rng, t, concept)
                follow_up = None
            else:
                t, success, follow_up = self.pursue(s, rng, t, intent, slots, habit, own)
            goals += 1
            go_on = cfg.continue_prob if success else cfg.continue_prob * 0.5
            if follow_up is None and rng.random() >= go_on:
                break
            if follow_up is None or not follow_up[2]:  # a reformulation comes as quickly as a rephrase
                t += 4.0 + 36.0 * rng.random()
        return t

    # -- a goal ---------------------------------------------------------------------------------
    def pursue(
        self,
        s: Session,
        rng: random.Random,
        t: float,
        intent: Intent,
        slots: tuple,
        habit: str | None,
        own: Own | None = None,
    ):
        """Pursue one goal until success or giving up; returns (end time, success as the user believes
        it, follow-up goal as (intent, slots, is a reformulation) or None). `own`: the user's own thing
        the goal is about (`personal.py`)."""
        cfg = self.cfg
        u = s.user
        plain = slots
        ambient = self._ambient(u, intent, slots) if own is None and intent.key in AMBIENT_INTENTS else None
        if ambient is not None:  # the user's own news source / music service, left unsaid
            slots = (*slots, ambient)
        template = habit or self._phrasing(rng, intent, slots, u)
        surfaces = self._surfaces(rng, slots)
        rephrase_of = None
        attempt, success, believed, follow_up = 0, False, False, None
        intended = armed = None
        while True:
            if own is None:
                spoken, confusion = self._render(template, surfaces, slots)
            else:
                spoken, confusion, intended, armed = self._render_own(
                    rng, template, surfaces, own, attempt > 0
                )
            use = intent.implicit_slot if template in intent.my_phrasings else None  # relies on a taught one
            if ambient is not None and "{" + ambient[0] + "}" not in template:
                use = ambient[0]
            taught = (slots[0][0], self.ents[slots[0][1]].name) if intent.domain == "preferences" else None
            turn, rec = self._say(s, rng, t, intent, slots, spoken, confusion, attempt == 0, rephrase_of,
                                  intended, use=use, teach=taught)  # fmt: skip
            if armed is not None and turn.failure == armed and (armed != "asr" or turn.asr_text != spoken):
                self.stage_counts["personal"] += 1  # failed the way the user's own error makes it fail
            if turn.success:
                success = True
                rec["barge_in"] = rng.random() < cfg.barge_in_success
                if intent.domain == "preferences":
                    pass  # the assistant told the runtime (`Assistant.learn`)
                elif (
                    attempt
                    and self._teachable(intent, slots, self.assistant.memory(u))
                    and rng.random() < cfg.teach_prob * 0.5
                ):
                    kind = intent.implicit_slot  # had to spell out a preference: teach it next
                    follow_up = (INTENT_BY_KEY[TEACH_INTENT[kind]], ((kind, dict(slots)[kind]),), False)
                elif (
                    ambient is not None
                    and "{" + ambient[0] + "}" in template
                    and not self._holds(u, *ambient)
                    and rng.random() < cfg.teach_prob * 0.5
                ):  # had to name their service: "use spotify for music" next
                    follow_up = (INTENT_BY_KEY[TEACH_INTENT[ambient[0]]], (ambient,), False)
                t += _speak_s(spoken) + 0.8 + turn.duration_ms / 1000.0
                break
            if turn.guessed and rng.random() >= NOTICE_GUESS:  # takes the claimed success at face value
                believed = True
                rec["barge_in"] = rng.random() < cfg.barge_in_success
                t += _speak_s(spoken) + 0.8 + turn.duration_ms / 1000.0
                break
            wrong = turn.wrong_media or turn.guessed
            barge = rng.random() < min(0.95, cfg.barge_in_failure * (1.8 if wrong else 1.0))
            rec["barge_in"] = barge
            attempt += 1
            t += _retry_gap(rng, spoken, turn, barge)
            if turn.ask_concept is not None:  # asked to define words they did not mean as a name: walks away
                s.asked = None
                break
            if turn.ask_pref is not None and u.team is not None and rng.random() < cfg.teach_prob:
                # "which team?" -> "i'm a warriors fan" -> the same request again, now that it knows
                t_slots = ((turn.ask_pref, u.team),)
                teach = INTENT_BY_KEY[TEACH_INTENT[turn.ask_pref]]
                t_spoken, t_confusion = self._render(
                    self._phrasing(rng, teach, t_slots, u), self._surfaces(rng, t_slots), t_slots
                )
                t_turn, t_rec = self._say(s, rng, t, teach, t_slots, t_spoken, t_confusion, False, None,
                                          teach=(turn.ask_pref, self.ents[u.team].name))  # fmt: skip
                t_rec["barge_in"] = rng.random() < (
                    cfg.barge_in_success if t_turn.success else cfg.barge_in_failure
                )
                if not t_turn.success:
                    t += _speak_s(t_spoken) + 1.0 + t_turn.duration_ms / 1000.0
                    break
                t += _retry_gap(rng, t_spoken, t_turn, False)
                rephrase_of = rec["event_id"]
                continue
            if attempt >= cfg.max_attempts or rng.random() >= cfg.rephrase_prob * cfg.rephrase_decay ** (
                attempt - 1
            ):
                break  # gives up
            if (
                cfg.reformulate_prob
                and intent.domain != "preferences"
                and own is None  # a user retries their own things
                and rng.random() < cfg.reformulate_prob
            ):
                other = self.pop.reformulation(u, rng, intent, plain, s.device_type in SCREEN_DEVICES)
                if other is not None:  # asks for something else instead: a new goal, right away
                    follow_up = (*other, True)
                    break
            rephrase_of = rec["event_id"]
            if own is None:
                template, slots, surfaces = self._rephrase(rng, turn, intent, slots, template, surfaces, u)
                plain = tuple(x for x in slots if x != ambient)
            elif rng.random() < REWORD:  # else the same words, the name said carefully or in full
                template = self._phrasing(rng, intent, slots, u, exclude=template, allow_my=False)
        if s.annotated:
            for _, _, gold in s.pending:
                gold.goal_success = success
        if rng.random() < cfg.feedback_rate:
            positive = rng.random() < (0.92 if success else 0.6 if believed else 0.15)
            s.pending[-1][0]["explicit_feedback"] = "positive" if positive else "negative"
        self._flush(s)
        return t, success or believed, follow_up

    # -- concepts of the user's own (`teaching.py`) ------------------------------------------------
    def concepts(self, u: User) -> teaching.UserConcepts:
        """The user's concepts: the same for every day of the world (cached per user)."""
        found = self._concepts.get(u.id)
        if found is None:
            if len(self._concepts) > 100_000:
                self._concepts.clear()
            found = self._concepts[u.id] = teaching.concepts_of(self.cfg, u, self._definition_text)
        return found

    def _definition_text(self, intent: Intent, slots, template: str) -> str:
        """A routine as the user would define a concept by it: the request with the entities' full names, and
        only one the assistant understands as that routine ("" otherwise)."""
        text = (
            template.format_map({kind: self.ents[idx].name for kind, idx in slots})
            if "{" in template
            else template
        )
        return text if self.assistant.nlu.parse(text).intent == intent.key else ""

    def _concept_for(self, mine: teaching.UserConcepts, intent: Intent, slots) -> teaching.Concept | None:
        """The user's concept that names this goal today, if any."""
        for concept in mine.concepts:
            now = mine.current(concept, self._ordinal)
            if now.intent is intent and now.slots == slots:
                return now
        return None

    def _stale(self, u: User, mine: teaching.UserConcepts) -> teaching.Concept | None:
        """A concept of the user's that the runtime does not hold as they mean it today (untaught, or taught
        before they redefined it), else None."""
        runtime = self.assistant.runtime
        if runtime is None:
            return None
        for concept in mine.concepts:
            now = mine.current(concept, self._ordinal)
            held = runtime.preference(u.id, now.key)
            if held is None or normalize_text(held) != now.definition:
                return now
        return None

    def _state(self, s: Session, rng, t: float, concept: teaching.Concept, goal_start: bool) -> float:
        """The user tells the assistant what a concept means, unasked (customer-initiated teaching): a goal of
        its own at the start of a session (`goal_start`), or a correction within the goal in progress."""
        spoken = teaching.statement_text(concept, rng, teaching.phrasing_set(self.cfg, self._ordinal))
        turn, rec = self._say(s, rng, t, DEFINE, (), spoken, None, goal_start, None,
                              teach=(concept.key, concept.definition))  # fmt: skip
        rec["barge_in"] = rng.random() < (
            self.cfg.barge_in_success if turn.success else self.cfg.barge_in_failure
        )
        if goal_start:
            if s.annotated:
                for _, _, gold in s.pending:
                    gold.goal_success = turn.success
            self._flush(s)
        return t + _speak_s(spoken) + 1.0 + turn.duration_ms / 1000.0

    def pursue_concept(self, s: Session, rng: random.Random, t: float, concept: teaching.Concept):
        """A goal asked for by the user's own name for it ("turn on study mode"); returns (end time, success).

        Untaught, the assistant does not understand it and may ask what it means (`Assistant.request`): the
        user answers (`teach_prob`), and asks again at once; else they say the request itself, repeat the
        name, or give up. Taught, the runtime rewrites the name into what it was taught: the old definition
        where the user has redefined it since, which they notice and correct by stating the new one."""
        cfg, u = self.cfg, s.user
        spoken = teaching.activation_text(concept, rng)
        attempt, success, rephrase_of, taught, answers = 0, False, None, False, 0
        explicit = False  # the user said the request itself instead of the concept's name
        while True:
            turn, rec = self._say(
                s, rng, t, concept.intent, concept.slots, spoken, None, attempt == 0, rephrase_of,
                concept.definition, use=None if explicit else concept.key,
            )  # fmt: skip
            if turn.success:
                success = True
                rec["barge_in"] = rng.random() < cfg.barge_in_success
                t += _speak_s(spoken) + 0.8 + turn.duration_ms / 1000.0
                break
            rec["barge_in"] = rng.random() < cfg.barge_in_failure
            attempt += 1
            t += _retry_gap(rng, spoken, turn, rec["barge_in"])
            if (
                turn.ask_concept is not None
            ):  # asked what it means (again, if a taught name was said another way)
                if turn.ask_concept != concept.name or answers >= 2 or rng.random() >= cfg.teach_prob:
                    s.asked = None
                    break  # not now (or it asked about words the user did not mean): walks away
                answer = teaching.answer_text(concept, rng, teaching.phrasing_set(cfg, self._ordinal))
                a_turn, a_rec = self._say(s, rng, t, DEFINE, (), answer, None, False, None,
                                          teach=(concept.key, concept.definition))  # fmt: skip
                a_rec["barge_in"] = False
                taught, answers = True, answers + 1
                t += _retry_gap(rng, answer, a_turn, False)
                rephrase_of, explicit = rec["event_id"], False
                spoken = teaching.activation_text(concept, rng)  # and asks again, at once
                continue
            if attempt >= cfg.max_attempts or rng.random() >= cfg.rephrase_prob * cfg.rephrase_decay ** (
                attempt - 1
            ):
                break  # gives up
            rephrase_of = rec["event_id"]
            held = self.assistant.runtime.preference(u.id, concept.key) if self.assistant.runtime else None
            if held is not None and not taught and rng.random() < cfg.teach_prob:
                t = self._state(s, rng, t, concept, goal_start=False)  # "no: study mode means ..." then again
                taught, explicit = True, False
                spoken = teaching.activation_text(concept, rng)
            elif rng.random() < 0.5:
                spoken, explicit = concept.definition, True  # says what they want in so many words
            else:
                spoken, explicit = teaching.activation_text(concept, rng), False
        if s.annotated:
            for _, _, gold in s.pending:
                gold.goal_success = success
        if rng.random() < cfg.feedback_rate:
            positive = rng.random() < (0.92 if success else 0.15)
            s.pending[-1][0]["explicit_feedback"] = "positive" if positive else "negative"
        self._flush(s)
        return t, success

    def _say(
        self,
        s: Session,
        rng,
        t: float,
        intent: Intent,
        slots,
        spoken: str,
        confusion,
        goal_start: bool,
        rephrase_of: str | None,
        intended: str | None = None,
        use: str | None = None,
        teach: tuple[str, str] | None = None,
    ) -> tuple[Turn, dict]:
        """One request to the assistant; its record (and gold) wait in `s.pending` for the goal's end.
        `intended`: what the user meant, where it is not what they said (a twin town without its state);
        `use`: the key of a taught item the request relies on; `teach`: (key, value) the user means to teach
        (the turn succeeds when the assistant took exactly that)."""
        asked, s.asked = s.asked, None
        turn = self.assistant.request(
            rng, spoken, confusion, s.user, s.device_type, s.state, intent.key, slots, s.user.treated, asked
        )
        if teach is not None and intent is DEFINE:  # judged by what the assistant took, not by NLU
            right = turn.teach is not None and (normalize_text(turn.teach[0]), normalize_text(turn.teach[1])) == (
                normalize_text(teach[0]), normalize_text(teach[1]))  # fmt: skip
            turn.success, turn.failure = right, "correct" if right else "asr"
        s.asked = turn.ask_concept
        rec = self._record(s, turn, t)
        if turn.teach is not None:
            self.assistant.learn(s.user, turn, rec["event_id"], datetime.fromisoformat(rec["ts"]))
        gold = None
        if s.annotated:
            gold = Gold(
                rec["event_id"],
                turn.failure,
                goal_start,
                intent.key,
                self._named(slots),
                rephrase_of,
                intended or spoken,
                turn.asr_text,
                s.last_event,
            )
            if teach is not None:
                gold.preference = {"key": teach[0], "value": teach[1]}
            gold.preference_use = use
        s.pending.append((rec, turn.failure, gold))
        s.last_event = rec["event_id"]
        return turn, rec

    @staticmethod
    def _teachable(intent: Intent, slots, memory: dict) -> bool:
        """The goal named a preference the assistant could have filled in, had it been taught."""
        kind = intent.implicit_slot
        return kind is not None and kind not in memory and any(k == kind for k, _ in slots)

    def _ambient(self, u: User, intent: Intent, slots) -> tuple[str, int] | None:
        """(kind, entity) of the user's news source / music service this goal relies on: theirs where it is not the
        assistant's default (a request with a news topic relies on none)."""
        kind, with_slots = AMBIENT_INTENTS[intent.key]
        value = getattr(u, kind)
        if value is None or value == self.assistant.defaults.get(kind) or (slots and not with_slots):
            return None
        return kind, value

    def _holds(self, u: User, kind: str, value: int) -> bool:
        """Whether the runtime holds this preference of the user's with this value."""
        runtime = self.assistant.runtime
        held = runtime.preference(u.id, kind) if runtime is not None else None
        return held is not None and normalize_text(held) == self.ents[value].name

    def _untold(self, u: User) -> tuple[str, int] | None:
        """(kind, entity) of a preference the user would state now: a news source or music service the runtime
        lacks, or a preference they changed whose old value it holds; else None."""
        for kind in AMBIENT_KINDS:
            value = getattr(u, kind)
            if value is not None and not self._holds(u, kind, value):
                return kind, value
        if u.changes is not None and self._ordinal >= u.changes[1]:
            kind, _, value = u.changes
            runtime = self.assistant.runtime
            if (
                runtime is not None
                and runtime.preference(u.id, kind) is not None
                and not self._holds(u, kind, value)
            ):
                return kind, value
        return None

    def _rephrase(self, rng, turn: Turn, intent: Intent, slots, template: str, surfaces: dict, u: User):
        stage = "correct" if turn.ask_pref else turn.failure
        repeat, reword, detail, _ = STYLES[stage]
        r = rng.random()
        ambient = next((x for x in slots if x[0] in AMBIENT_SUFFIXES), None)
        if ambient is not None and r >= repeat + reword and r < repeat + reword + detail:
            kind = ambient[0]
            if "{" + kind + "}" not in template:  # the detail it lacked: "... on spotify"
                template += AMBIENT_SUFFIXES[kind] + "{" + kind + "}"
                surfaces = {**surfaces, kind: self.ents[ambient[1]].name}
                r = 0.0  # the same words otherwise
        if turn.ask_pref is not None or template in intent.my_phrasings:
            template = self._phrasing(rng, intent, slots, u, allow_my=False)
        elif r < repeat:
            pass
        elif r < repeat + reword:
            template = self._phrasing(rng, intent, slots, u, exclude=template, allow_my=False)
        elif r < repeat + reword + detail:
            if intent.key == "music.play_song" and len(slots) == 1 + (ambient is not None):
                song = slots[0][1]
                slots = (("artist", self.ents[song].parent), ("song", song), *([ambient] if ambient else []))
                surfaces = {**surfaces, "artist": self.ents[self.ents[song].parent].name}
            template = self._phrasing(rng, intent, slots, u, exclude=template, detail=True, allow_my=False)
        if stage == "er" or rng.random() < 0.5:
            surfaces = {kind: self.ents[idx].name for kind, idx in slots}  # the full, proper name
        return template, slots, surfaces

    # -- words ----------------------------------------------------------------------------------
    def _phrasing(
        self, rng, intent: Intent, slots, u: User, exclude=None, detail=False, allow_my=True
    ) -> str:
        sets = PREFERENCE_PHRASINGS.get(intent.key)
        if sets is not None:  # a statement of a news source / music service, in the day's phrasing set
            options = sets[teaching.phrasing_set(self.cfg, self._ordinal)]
            options = [t for t in options if t != exclude] or options
            return options[int(rng.random() * len(options))]
        kinds = tuple(k for k, _ in slots)
        if kinds and kinds[-1] in AMBIENT_SUFFIXES:  # left unsaid
            kinds = kinds[:-1]
            slots = slots[:-1]
        if allow_my and intent.my_phrasings and rng.random() < 0.5:
            implicit = intent.implicit_slot
            mine = u.team if implicit == "team" else u.cuisine
            if kinds == () or (kinds == (implicit,) and slots[0][1] == mine):
                return intent.my_phrasings[int(rng.random() * len(intent.my_phrasings))]
        phrasings, cum = self.pop.phrasing_cum[(intent.key, kinds)]
        if exclude is None and not detail:
            return phrasings[pick_cumulative(cum, rng.random())].template
        options = [p for p in phrasings if p.template != exclude and (p.detail or not detail)]
        if not options:
            options = [p for p in phrasings if p.template != exclude] or phrasings
        return rng.choices(options, weights=[p.weight for p in options])[0].template

    def _surfaces(self, rng, slots) -> dict[str, str]:
        out = {}
        rate = self.cfg.er_alias_rate
        for kind, idx in slots:
            ent = self.ents[idx]
            if kind in OPEN_KINDS and rng.random() < rate and (ent.aliases_unknown or ent.aliases_known):
                if ent.aliases_unknown and (not ent.aliases_known or rng.random() < 0.75):
                    out[kind] = ent.aliases_unknown[0]
                else:
                    out[kind] = ent.aliases_known[0]
            else:
                out[kind] = ent.name
        return out

    def _render(self, template: str, surfaces: dict, slots) -> tuple[str, tuple[str, str] | None]:
        spoken = template.format_map(surfaces) if "{" in template else template
        confusion = None
        for kind, idx in slots:
            ent = self.ents[idx]
            if ent.confusion is not None and surfaces.get(kind) == ent.name and ent.name in spoken:
                confusion = (ent.name, ent.confusion)
                break
        return spoken, confusion

    def _render_own(self, rng, template: str, surfaces: dict, own: Own, careful: bool):
        """(spoken, confusion, intended text or None, the stage the user's own error fails at or None) for
        a request about one of the user's own things; `careful`: a retry."""
        name = own.careful if careful or rng.random() >= HABIT else own.said
        spoken = template.format_map({**surfaces, own.kind: name})
        confusion = intended = armed = None
        if name == own.said:
            if own.heard is not None:  # the whole request, with the name as this user's accent makes it
                heard = template.format_map({**surfaces, own.kind: own.heard})
                confusion = (spoken, heard, CAREFUL_MISHEAR if careful else MISHEAR)
                armed = "asr"
            elif own.error == "short":
                armed = "er"
            elif own.error == "bare":  # what the user meant names the state
                intended = template.format_map({**surfaces, own.kind: own.careful})
                armed = "result"
        return spoken, confusion, intended, armed

    def _named(self, slots) -> list[dict[str, str]]:
        return [{"name": kind, "value": self.ents[idx].name} for kind, idx in slots]

    # -- records --------------------------------------------------------------------------------
    def _record(self, s: Session, turn: Turn, t: float) -> dict:
        s.turn_no += 1
        p = turn.parse
        rec = {
            "event_id": f"e{mix64(((s.key << 7) | s.turn_no) ^ ~self.salt):016x}",
            "session_id": s.id,
            "user_id": s.user.id,
            "device_id": s.device_id,
            "ts": iso_ts(self._prefix, t),
            "asr_text": turn.asr_text,
            "device_type": s.device_type,
            "locale": s.user.locale,
            "wake_score": turn.wake_score,
            "asr_confidence": turn.asr_confidence,
            "asr_nbest": turn.nbest,
            "nlu_domain": p.domain,
            "nlu_intent": p.name,
            "nlu_slots": p.slot_list,
            "nlu_confidence": turn.nlu_confidence,
            "er_status": turn.er_status,
            "er_entity_id": turn.er_entity_id,
            "response_text": turn.response_text,
            "response_status": turn.status,
            "response_duration_ms": turn.duration_ms,
            "barge_in": False,
            "device_state": s.state,
        }
        if turn.rewrite is not None:
            rec["rewrite_applied"] = applied_record(turn.rewrite)
            if getattr(turn, "taught", False):  # the simulator's A/B replay tells taught rewrites from retrieved ones
                rec["rewrite_source"] = "taught"
        if s.arm is not None:
            rec["ab_arm"] = s.arm
        return rec

    def _flush(self, s: Session) -> None:
        counts = self.stage_counts
        emit = self._emit
        for rec, failure, gold in s.pending:
            counts[failure] += 1
            emit(rec, gold)
        s.pending.clear()


_HH_MM = [f"{m // 60:02d}:{m % 60:02d}:" for m in range(24 * 60)]


def iso_ts(prefix: str, t: float) -> str:
    """ISO-8601 in UTC of `t` seconds into the day whose date is `prefix` ("YYYY-MM-DDT")."""
    minute, ms = divmod(int(t * 1000.0), 60_000)
    return f"{prefix}{_HH_MM[minute]}{ms // 1000:02d}.{ms % 1000:03d}+00:00"


def _speak_s(text: str) -> float:
    return 0.3 + 0.33 * (text.count(" ") + 1)


def _retry_gap(rng: random.Random, spoken: str, turn: Turn, barge: bool) -> float:
    """Seconds from the start of a failed request to the start of the user's next one (2 to 20)."""
    rand = rng.random
    heard = turn.duration_ms / 1000.0 * ((0.15 + 0.35 * rand()) if barge else 1.0)
    think = 1.8 ** (1.0 + noise(rand))  # log-normal-ish, median ~1.8 s
    return min(20.0, max(2.0, _speak_s(spoken) + 0.4 + 0.6 * rand() + heard + think))


def _device_state(rng: random.Random, u: User, local_hour: int, device_type: str) -> dict[str, str]:
    r = rng.random()
    state = {"media": "playing" if r < 0.22 else "paused" if r < 0.3 else "idle"}
    if u.has_oven:
        state["oven"] = "on" if rng.random() < (0.35 if 16 <= local_hour <= 20 else 0.04) else "off"
    if device_type != "car" and rng.random() < 0.1:
        state["timer"] = "running"
    return state


def poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = 2.718281828459045**-lam, 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
