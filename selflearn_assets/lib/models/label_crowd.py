"""What other sessions meant by the same words: evidence for a turn from every other turn with its text.

Real ASR errors are not random: one speaker's recording of a sentence is misheard the same way each time,
and popular requests are misheard the same way by many users. When the words of a turn are lost, what
other sessions meant by the very same text is evidence of what this turn meant:

- **gold** sightings: turns with the same text in audited training sessions, with their gold intent, slots
  and goal outcome (the audit sample of past days, reused for every later turn that sounds the same);
- **weak** sightings: turns with the same text anywhere (training or the frames being labelled), with their
  weak meaning: the NLU's reading when the turn went well, else the reading of the successful rephrase that
  ended its retries (`label_data.weak_labels`), and whether it went well.

A turn never sees its own session's sightings (leave-one-session-out), so a training turn's own target is
never among its features. Texts are compared after `label_slots.normalise` (lower case, single spaces).

`CrowdMemory.fit(frames)` keeps the gold and weak sightings of training frames (pickled with the model);
`with_weak(frames)` adds the weak sightings of the frames being labelled (never their gold, so evaluation
on the audit holdout does not read its own answers); `evidence(frames)` computes, per turn, the
`TURN_FEATURES`, the intent shares and the slot values seen. `CrowdDay(memory, day)` is `with_weak(day)` for a
day labelled in chunks of sessions, in compact form (one tally per text, not a sighting per turn).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from selflearn_assets.lib.models.label_slots import normalise

KINDS = ("gold", "weak")
TURN_FEATURES = (
    "gold_n",  # log1p(gold sightings of the text in other sessions) / 3
    "gold_success",  # share of them whose goal succeeded (0.5 without sightings)
    "gold_intent_agree",  # share whose gold intent is this turn's NLU intent (0.5 without sightings)
    "gold_slots_agree",  # share whose gold slot set is this turn's NLU slot set (0.5 without sightings)
    "weak_n",  # log1p(weak sightings in other sessions) / 3
    "weak_ok",  # share of them that went well (0.5 without sightings)
    "weak_intent_agree",  # share whose weak intent is this turn's NLU intent (0.5 without sightings)
)


def _slot_set(slots) -> frozenset[tuple[str, str]]:
    return frozenset((s["name"], normalise(s["value"])) for s in slots or [] if s.get("value") is not None)


@dataclass
class _Tally:
    """Counts of one text's sightings of one kind (in all sessions, or in one session)."""

    n: int = 0
    success: int = 0
    intents: Counter = field(default_factory=Counter)
    slot_sets: Counter = field(default_factory=Counter)
    slot_values: Counter = field(default_factory=Counter)

    def add(self, intent: str | None, slots: frozenset | None, success: bool | None, sign: int = 1) -> None:
        """Count one sighting (`sign` -1: take one back; counts may then go negative, in a `CrowdDay` layer)."""
        self.n += sign
        self.success += sign * bool(success)
        if intent is not None:
            self.intents[intent] += sign
        if slots is not None:
            self.slot_sets[slots] += sign
            if sign > 0:
                self.slot_values.update(slots)
            else:
                self.slot_values.subtract(slots)

    def plus(self, other: _Tally | None) -> _Tally:
        """These counts and `other`'s (a layer's, possibly negative); a count that ends at zero is dropped."""
        if other is None:
            return self
        return _Tally(
            n=self.n + other.n,
            success=self.success + other.success,
            intents=self.intents + other.intents,
            slot_sets=self.slot_sets + other.slot_sets,
            slot_values=self.slot_values + other.slot_values,
        )

    def minus(self, other: _Tally | None) -> _Tally:
        """These counts less `other`'s (a part of them)."""
        if other is None:
            return self
        return _Tally(
            n=self.n - other.n,
            success=self.success - other.success,
            intents=self.intents - other.intents,
            slot_sets=self.slot_sets - other.slot_sets,
            slot_values=self.slot_values - other.slot_values,
        )


@dataclass
class Sighting:
    event_id: str
    session_id: str
    text: str
    kind: str  # "gold" or "weak"
    intent: str | None
    slots: frozenset | None
    success: bool | None


@dataclass
class Evidence:
    """Per turn of a frame: `features` (N, len(TURN_FEATURES)), intent shares per kind (N, C) over `intents`,
    and per row the slot values seen with their share among sightings of each kind."""

    features: np.ndarray
    intent_share: dict[str, np.ndarray]
    slot_share: list[dict[tuple[str, str], tuple[float, float]]]  # (name, value) -> (gold share, weak share)


def _weak_meaning(frames: pl.DataFrame) -> pl.DataFrame:
    ok = pl.col("weak_turn_ok")
    return frames.select(
        "event_id",
        "session_id",
        "utterance",
        weak_intent=pl.coalesce(pl.when(ok).then(pl.col("nlu_intent")), "meant_intent"),
        weak_slots=pl.coalesce(pl.when(ok).then(pl.col("nlu_slots")), "meant_slots"),
        weak_ok=ok,
    )


def sightings(frames: pl.DataFrame, gold: bool) -> list[Sighting]:
    """The weak sightings of every turn of `frames` (from `load_label_frames`), and with `gold` also the gold
    sightings of its audited turns."""
    out = []
    weak = _weak_meaning(frames)
    for event, session, text, intent, slots, ok in weak.iter_rows():
        out.append(Sighting(event, session, normalise(text), "weak", intent,
                            None if slots is None else _slot_set(slots), ok))
    if gold:
        audited = frames.filter(pl.col("gold_intent").is_not_null() | pl.col("gold_goal_success").is_not_null())
        for event, session, text, intent, slots, success in audited.select(
            "event_id", "session_id", "utterance", "gold_intent", "gold_slots", "gold_goal_success"
        ).iter_rows():
            out.append(Sighting(event, session, normalise(text), "gold", intent,
                                None if slots is None else _slot_set(slots), success))
    return out


class CrowdMemory:
    """Sightings per text, tallied over all sessions and per session (for leave-one-session-out)."""

    def __init__(self, items: list[Sighting]) -> None:
        self.items = {(s.event_id, s.kind): s for s in items}  # one sighting per turn and kind
        self.total: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
        self.by_session: dict[tuple[str, str, str], _Tally] = defaultdict(_Tally)
        for s in self.items.values():
            self.total[(s.text, s.kind)].add(s.intent, s.slots, s.success)
            self.by_session[(s.text, s.kind, s.session_id)].add(s.intent, s.slots, s.success)

    @classmethod
    def fit(cls, frames: pl.DataFrame) -> CrowdMemory:
        """The gold and weak sightings of training frames."""
        return cls(sightings(frames, gold=True))

    def with_weak(self, frames: pl.DataFrame) -> CrowdMemory:
        """This memory plus the weak sightings of `frames` (turns already in it are not counted twice)."""
        return CrowdMemory([*self.items.values(), *sightings(frames, gold=False)])

    def __getstate__(self) -> dict:
        return {"items": list(self.items.values())}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["items"])

    def _others(self, text: str, kind: str, session: str) -> _Tally:
        """The text's sightings of `kind` outside `session`."""
        total = self.total.get((text, kind))
        if total is None:
            return _Tally()
        return total.minus(self.by_session.get((text, kind, session)))

    def evidence(self, frames: pl.DataFrame, intents: list[str]) -> Evidence:
        """The evidence of every turn of `frames` (needs utterance, session_id, nlu_intent, nlu_slots)."""
        return _evidence(frames, intents, self._others)


class CrowdDay:
    """`memory.with_weak(day)` for a day labelled in chunks of whole sessions, in compact form: `memory` is
    not copied and no sighting per turn is kept. The day's weak sightings are tallied once per text (a signed
    layer over `memory.total`: a turn `memory` already holds replaces its old sighting, as in `with_weak`);
    a chunk's own sessions are tallied when its evidence is asked for (leave-one-session-out needs only
    them). `evidence(chunk, intents)` equals `memory.with_weak(day).evidence(chunk, intents)` for any chunk
    of whole sessions of `day`."""

    def __init__(self, memory: CrowdMemory, day: pl.DataFrame) -> None:
        self.memory = memory
        self.layer: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
        for s in sightings(day, gold=False):
            for x, sign in self._changes(s):
                self.layer[(x.text, x.kind)].add(x.intent, x.slots, x.success, sign)
        self.totals: dict[tuple[str, str], _Tally] = {}  # memory's total plus the layer, per text asked for
        self.others: dict[tuple, _Tally] = {}  # per (text, kind, a session's own sightings of it): the rest

    def _changes(self, s: Sighting) -> list[tuple[Sighting, int]]:
        old = self.memory.items.get((s.event_id, s.kind))
        return [(s, 1)] if old is None else [(old, -1), (s, 1)]

    def _total(self, text: str, kind: str) -> _Tally:
        key = (text, kind)
        if key not in self.totals:
            base = self.memory.total.get(key)
            self.totals[key] = (base if base is not None else _Tally()).plus(self.layer.get(key))
        return self.totals[key]

    def evidence(self, frames: pl.DataFrame, intents: list[str]) -> Evidence:
        """The evidence of every turn of `frames`, whole sessions of the day (needs the columns of
        `load_label_frames`)."""
        own: dict[tuple[str, str, str], list[tuple]] = defaultdict(list)
        for s in sightings(frames, gold=False):
            for x, sign in self._changes(s):
                own[(x.text, x.kind, x.session_id)].append((x.intent, x.slots, bool(x.success), sign))

        def others(text: str, kind: str, session: str) -> _Tally:
            key = (text, kind, session)
            changes = tuple(own.get(key, ()))
            base = self.memory.by_session.get(key)
            if base is not None:  # a session `memory` holds (a day it was trained on)
                return self._total(text, kind).minus(base.plus(_tally(changes)) if changes else base)
            shared = (text, kind, changes)  # the same text meant the same way in another session: same answer
            if shared not in self.others:
                self.others[shared] = self._total(text, kind).minus(_tally(changes) if changes else None)
            return self.others[shared]

        return _evidence(frames, intents, others)


def _tally(changes: tuple[tuple, ...]) -> _Tally:
    out = _Tally()
    for intent, slots, success, sign in changes:
        out.add(intent, slots, success, sign)
    return out


def _evidence(
    frames: pl.DataFrame, intents: list[str], others: Callable[[str, str, str], _Tally]
) -> Evidence:
    """Evidence per turn of `frames` from `others(text, kind, session)`: the text's sightings outside the
    turn's session."""
    n = frames.height
    index = {name: k for k, name in enumerate(intents)}
    features = np.zeros((n, len(TURN_FEATURES)), np.float32)
    shares = {kind: np.zeros((n, len(intents)), np.float32) for kind in KINDS}
    slot_share: list[dict[tuple[str, str], tuple[float, float]]] = []
    rows = frames.select("utterance", "session_id", "nlu_intent", "nlu_slots").iter_rows()
    for i, (text, session, nlu_intent, nlu_slots) in enumerate(rows):
        text = normalise(text)
        own_slots = _slot_set(nlu_slots)
        tallies = {kind: others(text, kind, session) for kind in KINDS}
        gold, weak = tallies["gold"], tallies["weak"]
        features[i] = (
            np.log1p(gold.n) / 3,
            gold.success / gold.n if gold.n else 0.5,
            gold.intents[nlu_intent] / gold.n if gold.n else 0.5,
            gold.slot_sets[own_slots] / gold.n if gold.n else 0.5,
            np.log1p(weak.n) / 3,
            weak.success / weak.n if weak.n else 0.5,
            weak.intents[nlu_intent] / weak.n if weak.n else 0.5,
        )
        values: dict[tuple[str, str], tuple[float, float]] = {}
        for kind, tally in tallies.items():
            if not tally.n:
                continue
            for intent, count in tally.intents.items():
                if intent in index:
                    shares[kind][i, index[intent]] = count / tally.n
            for pair, count in tally.slot_values.items():
                g, w = values.get(pair, (0.0, 0.0))
                values[pair] = (count / tally.n, w) if kind == "gold" else (g, count / tally.n)
        slot_share.append(values)
    return Evidence(features, shares, slot_share)
