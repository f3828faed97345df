"""A world of users who say real corpus sentences to an assistant with the corpus' real ASR and NLU.

Traffic: each user has a fixed profile (time zone, devices, session rate, 2..`favourites` favourite
sentences drawn from the global popularity, a Zipf law over sentences with seed-shuffled ranks) and
each goal is a favourite (`favourite_share`) or a fresh draw from the popularity. How a user sounds
saying a sentence is one of its recordings, fixed per (user, sentence) by a hash and used with
`same_recording`, so a misrecognition recurs for that user, and for every user who sounds alike.

After a failure the user barges in or not, then retries (`rephrase_prob`, decaying) or gives up. A
retry repeats the sentence (the usual or another recording) or, with `reformulate_prob`, says another
sentence of the same intent that shares an entity value with it, preferring ones with more slots
(any sentence of the intent when none shares a value). `goal_success` is true on every turn of a goal
whose last turn is `correct`. After a success there may be another goal (`continue_prob`).

Day D is a pure function of (config, D): profiles hash (seed, user), a day's draws hash (seed, D,
user), with no memory across days. So a replay of one day (`start=D, days=1`) reproduces the traffic of
every user the table leaves alone exactly: the evaluation's counterfactual replay runs the day with every
user in the control arm, then in the treatment arm (`ab_arm`), and the two differ only where a rewrite
fired. Records follow the raw-log contract like the embedded simulator's.
"""

from __future__ import annotations

import random
from datetime import date

from selflearn_assets.lib.markov.normalize import normalize_utterance
from selflearn_assets.lib.simulator.annotate import in_audit_sample
from selflearn_assets.lib.simulator.behaviour import DAY_S, LAST_SESSION_START_S, Gold, iso_ts, poisson
from selflearn_assets.lib.simulator.corpus.assistant import CorpusAssistant, CorpusTurn, pick_share
from selflearn_assets.lib.simulator.corpus.config import CorpusSimConfig
from selflearn_assets.lib.simulator.corpus.load import Corpus, Sentence
from selflearn_assets.lib.simulator.intents import FALSE_WAKE_INTENT
from selflearn_assets.lib.simulator.rewrites import applied_record, in_treatment
from selflearn_assets.lib.simulator.text import (
    cumulative,
    mix64,
    noise,
    pick_cumulative,
    stable_int,
    zipf_cumulative,
)

STAGES = ("false_wake", "asr", "nlu", "er", "result", "correct")
# local hour of day -> relative share of sessions
HOUR_CUM = cumulative([0.2, 0.1, 0.1, 0.1, 0.2, 0.6, 1.6, 2.4, 2.0, 1.4, 1.2, 1.3,
                       1.5, 1.3, 1.2, 1.3, 1.6, 2.0, 2.4, 2.4, 2.2, 1.8, 1.1, 0.5])  # fmt: skip
TIME_ZONES = ((-8, 0.2), (-7, 0.08), (-6, 0.25), (-5, 0.37), (0, 0.05), (1, 0.05))
DEVICE_TYPES = (("speaker", 0.5), ("screen", 0.2), ("phone", 0.2), ("car", 0.06), ("tv", 0.04))


class Profile:
    __slots__ = ("idx", "id", "devices", "tz", "session_rate", "favourites", "treated")


class Session:
    __slots__ = ("key", "id", "user", "device_id", "device_type", "state", "turn_no", "last_event", "records")


class CorpusWorld:
    """One config's world; `user_day` writes a user's day through `emit(record, gold)`."""

    def __init__(
        self, cfg: CorpusSimConfig, corpus: Corpus, rewrites: dict[str, tuple[str, str, str]]
    ) -> None:
        self.cfg = cfg
        self.corpus = corpus
        self.sentences = corpus.sentences
        if not self.sentences:
            raise ValueError(f"the corpus at {cfg.corpus} has no sentence with a recording")
        n = len(self.sentences)
        self.rank = list(range(n))
        random.Random(stable_int(cfg.seed, "popularity")).shuffle(self.rank)
        self.popularity = zipf_cumulative(n, cfg.popularity_exponent)
        self.by_intent: dict[str, list[int]] = {}
        for i, s in enumerate(self.sentences):
            self.by_intent.setdefault(s.gold.intent, []).append(i)
        self.values = [{normalize_utterance(v) for _, v in s.gold.slots} for s in self.sentences]
        self.assistant = CorpusAssistant(corpus, cfg, rewrites)
        self.ab = cfg.rewrite_table is not None
        self.user_salt = stable_int(cfg.seed, "user")
        self.id_salt = stable_int(cfg.seed, "ids")
        self.stage_counts = dict.fromkeys(STAGES, 0)
        self.sessions = 0

    # -- users ----------------------------------------------------------------------------------
    def profile(self, idx: int) -> Profile:
        rng = random.Random(mix64(idx ^ self.user_salt))
        cfg = self.cfg
        u = Profile()
        u.idx = idx
        u.id = f"u{mix64(idx ^ self.user_salt):016x}"
        kinds = {pick_share(rng.random(), DEVICE_TYPES) for _ in range(1 + int(rng.random() * 2.5))}
        u.devices = [
            (f"d{mix64(((idx << 3) | k) ^ ~self.user_salt):016x}", t) for k, t in enumerate(sorted(kinds))
        ]
        u.tz = pick_share(rng.random(), TIME_ZONES)
        u.session_rate = cfg.sessions_per_user_day * max(0.25, 1.0 + 0.3 * noise(rng.random))
        favourites = 2 + int(rng.random() * (cfg.favourites - 1))
        u.favourites = [self._popular(rng) for _ in range(favourites)]
        if cfg.ab_arm is not None:  # the counterfactual replay: every user in one arm
            u.treated = self.ab and cfg.ab_arm == "treatment"
        else:
            u.treated = self.ab and in_treatment(cfg.seed, u.id, cfg.treatment_fraction)
        return u

    def _popular(self, rng: random.Random) -> int:
        return self.rank[pick_cumulative(self.popularity, rng.random())]

    # -- a day ----------------------------------------------------------------------------------
    def user_day(self, u: Profile, day: date, emit) -> None:
        """All sessions of `u` on `day`; `emit(record, gold)` gets every turn in order."""
        cfg = self.cfg
        ordinal = day.toordinal()
        rng = random.Random(mix64(u.idx ^ stable_int(cfg.seed, "day", day.isoformat())))
        prefix = f"{day.isoformat()}T"
        starts = sorted(
            ((pick_cumulative(HOUR_CUM, rng.random()) + rng.random()) * 3600.0 - u.tz * 3600.0) % DAY_S
            for _ in range(min(poisson(rng, u.session_rate), 255))
        )
        cursor = 0.0
        for sno, start in enumerate(starts):
            start = max(start, cursor)
            if start > LAST_SESSION_START_S:
                break
            s = Session()
            s.key = (((u.idx << 20) | (ordinal & 0xFFFFF)) << 8) | sno
            s.id = f"s{mix64(s.key ^ self.id_salt):016x}"
            s.user = u
            s.device_id, s.device_type = u.devices[int(rng.random() * len(u.devices))]
            s.state = {"media": "playing" if rng.random() < 0.2 else "idle"}
            s.turn_no, s.last_event, s.records = 0, None, []
            self.sessions += 1
            end = self._session(s, rng, start, prefix)
            for rec, gold in s.records:
                self.stage_counts[gold.failure] += 1
                emit(rec, gold)
            cursor = end + 60.0 + rng.random() * 600.0

    def _session(self, s: Session, rng: random.Random, t: float, prefix: str) -> float:
        cfg = self.cfg
        if rng.random() < cfg.false_wake_rate:
            turn = self.assistant.false_wake(rng, self._background(rng))
            rec = self._record(s, turn, t, prefix)
            rec["barge_in"] = rng.random() < 0.3
            s.records.append((rec, Gold(rec["event_id"], "false_wake", True, FALSE_WAKE_INTENT, [], None, "",
                                        turn.asr_text, None)))  # fmt: skip
            return t + 3.0 + turn.duration_ms / 1000.0
        began = t
        for _ in range(cfg.max_goals):
            u = s.user
            idx = u.favourites[int(rng.random() * len(u.favourites))] if rng.random() < cfg.favourite_share \
                else self._popular(rng)  # fmt: skip
            t, success = self._goal(s, rng, t, idx, prefix)
            if (
                rng.random() >= (cfg.continue_prob if success else cfg.continue_prob * 0.5)
                or t - began > 400.0
            ):
                break
            t += 4.0 + 36.0 * rng.random()
        return t

    def _goal(self, s: Session, rng: random.Random, t: float, idx: int, prefix: str) -> tuple[float, bool]:
        """Pursue one goal from sentence `idx`; returns (end time, success)."""
        cfg = self.cfg
        golds = []
        rephrase_of, attempt, same = None, 0, cfg.same_recording
        while True:
            sentence = self.sentences[idx]
            rec_idx = self._voice(s.user, sentence, rng, same)
            turn = self.assistant.request(rng, sentence, sentence.recordings[rec_idx], s.user.treated)
            rec = self._record(s, turn, t, prefix)
            gold = Gold(rec["event_id"], turn.failure, attempt == 0, sentence.gold.intent,
                        sentence.gold.slot_list, rephrase_of, sentence.text, turn.asr_text, s.last_event)  # fmt: skip
            s.records.append((rec, gold))
            golds.append(gold)
            s.last_event = rec["event_id"]
            speak = 0.3 + 0.33 * (sentence.text.count(" ") + 1)
            if turn.success:
                rec["barge_in"] = rng.random() < cfg.barge_in_success
                t += speak + 0.8 + turn.duration_ms / 1000.0
                break
            barge = rng.random() < cfg.barge_in_failure
            rec["barge_in"] = barge
            heard = turn.duration_ms / 1000.0 * ((0.15 + 0.35 * rng.random()) if barge else 1.0)
            t += min(20.0, max(2.0, speak + 0.4 + heard + 1.8 ** (1.0 + noise(rng.random))))
            attempt += 1
            if attempt >= cfg.max_attempts or rng.random() >= cfg.rephrase_prob * cfg.rephrase_decay ** (
                attempt - 1
            ):
                break  # gives up
            rephrase_of = rec["event_id"]
            same = 0.5  # a retry is said more carefully, or just differently
            if rng.random() < cfg.reformulate_prob:
                idx = self._reformulation(idx, rng)
        success = golds[-1].failure == "correct"
        for gold in golds:
            gold.goal_success = success
        if rng.random() < cfg.feedback_rate:
            positive = rng.random() < (0.92 if success else 0.15)
            s.records[-1][0]["explicit_feedback"] = "positive" if positive else "negative"
        return t, success

    def _voice(self, u: Profile, sentence: Sentence, rng: random.Random, same: float) -> int:
        """Which recording the user sounds like: their usual one with probability `same`."""
        n = len(sentence.recordings)
        usual = stable_int(self.cfg.seed, "voice", u.idx, sentence.slurp_id) % n
        if n == 1 or rng.random() < same:
            return usual
        return (usual + 1 + int(rng.random() * (n - 1))) % n

    def _reformulation(self, idx: int, rng: random.Random) -> int:
        """Another sentence of the same intent sharing an entity value (weighted by its slot count)."""
        others = [j for j in self.by_intent[self.sentences[idx].gold.intent] if j != idx]
        if not others:
            return idx
        sharing = [j for j in others if self.values[j] & self.values[idx]]
        if sharing:
            weights = [1.0 + len(self.sentences[j].gold.slots) for j in sharing]
            return sharing[pick_cumulative(cumulative(weights), rng.random())]
        return others[int(rng.random() * len(others))]

    def _background(self, rng: random.Random) -> str:
        r = rng.random()
        if r < 0.2:
            return ""
        if self.corpus.background and r < 0.8:
            return self.corpus.background[int(rng.random() * len(self.corpus.background))]
        words = self.sentences[int(rng.random() * len(self.sentences))].text.split()
        return " ".join(words[: 1 + int(rng.random() * 3)])

    # -- records --------------------------------------------------------------------------------
    def _record(self, s: Session, turn: CorpusTurn, t: float, prefix: str) -> dict:
        s.turn_no += 1
        p = turn.interp
        rec = {
            "event_id": f"e{mix64(((s.key << 7) | s.turn_no) ^ ~self.id_salt):016x}",
            "session_id": s.id,
            "user_id": s.user.id,
            "device_id": s.device_id,
            "ts": iso_ts(prefix, t),
            "asr_text": turn.asr_text,
            "device_type": s.device_type,
            "locale": "en-US",
            "wake_score": turn.wake_score,
            "asr_confidence": turn.asr_confidence,
            "asr_nbest": [{"text": turn.asr_text, "score": turn.asr_confidence}] if turn.asr_text else [],
            "nlu_domain": p.domain if p else None,
            "nlu_intent": p.name if p else None,
            "nlu_slots": p.slot_list if p else [],
            "nlu_confidence": turn.nlu_confidence,
            "er_status": turn.er_status,
            "response_text": turn.response_text,
            "response_status": turn.status,
            "response_duration_ms": turn.duration_ms,
            "barge_in": False,
            "device_state": s.state,
        }
        if turn.rewrite is not None:
            rec["rewrite_applied"] = applied_record(turn.rewrite)
        if self.ab:
            rec["ab_arm"] = "treatment" if s.user.treated else "control"
        return rec


def in_corpus_audit(cfg: CorpusSimConfig, day_index: int, session_id: str) -> bool:
    """Whether a session of the `day_index`-th simulated day gets audit labels."""
    if day_index >= cfg.days - cfg.unannotated_last_days:
        return False
    return in_audit_sample(cfg.seed, session_id, cfg.annotation_rate)
