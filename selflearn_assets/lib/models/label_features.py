"""Turn features for the label model: vocabularies fitted on training frames, and per-turn tensors.

`FeatureSpec.fit(frames)` learns the categorical vocabularies, the intent classes (with "unknown") and the
slot names (plus, per slot name, the values seen: the lexicon slot candidates are resolved against);
`encode(frames, spec, embedder, contextual)` turns a frame of `label_data.load_label_frames` into
`TurnTensors`, with the slot candidates of `label_slots` (neighbouring turns' slots only when contextual) and
the evidence of `label_crowd` (what other sessions meant by the same text: the spec keeps the training
frames' sightings, the frames being encoded add their weak ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
import torch

from selflearn_assets.lib.models.label_crowd import TURN_FEATURES, CrowdDay, CrowdMemory
from selflearn_assets.lib.models.label_data import UNKNOWN
from selflearn_assets.lib.models.label_slots import (
    SlotCandidates,
    SlotLexicon,
    candidate_targets,
    normalise,
    slot_candidates,
)

CATEGORICALS = ("domain", "nlu_intent", "status", "device_type")
N_NUMERIC = 10 + len(TURN_FEATURES)
MAX_TURN_POSITION = 32
IGNORE = -100  # intent target of a turn without one (CrossEntropyLoss ignore_index)
# Intent evidence the model may copy (label_model gates each per turn): the turn's own NLU intent, what other
# sessions meant by its text (gold, weak), and (contextual model only) the NLU intents of the neighbouring
# turns of the session, zero when there is none or for the baseline.
INTENT_EVIDENCE = ("own_nlu", "crowd_gold", "crowd_weak", "previous_nlu", "next_nlu")


@dataclass
class FeatureSpec:
    """Vocabularies learnt from training frames; index 0 of each is the out-of-vocabulary bucket."""

    categories: dict[str, list[str]]
    state_tokens: list[str]
    intents: list[str]  # output classes; intents[0] == "unknown"
    slot_names: list[str]  # slot_names[0] == "<oov>"
    slot_lexicon: dict[str, list[str]] = field(default_factory=dict)  # name -> values seen, longest first
    memory: CrowdMemory | None = None  # sightings of the training frames' texts (label_crowd)

    def lexicon(self) -> SlotLexicon:
        """The slot lexicon with its lookups (built once per spec, not pickled with the model)."""
        if getattr(self, "_lexicon", None) is None:
            self._lexicon = SlotLexicon(self.slot_lexicon)
        return self._lexicon

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_lexicon"}

    @classmethod
    def fit(cls, frames: pl.DataFrame, min_count: int = 1) -> FeatureSpec:
        def vocab(values) -> list[str]:
            counts = pl.Series(values, dtype=pl.String).drop_nulls().value_counts()
            kept = counts.filter(pl.col("count") >= min_count).get_column(counts.columns[0]).to_list()
            return ["<oov>", *sorted(kept)]

        categories = {c: vocab(frames[c]) for c in CATEGORICALS}
        states = vocab([t for text in frames["state"].to_list() for t in (text or "").split()])
        intents = [UNKNOWN, *sorted(set(frames["intent_target"].drop_nulls()) - {UNKNOWN})]
        lexicon: dict[str, set[str]] = {}
        for slots in frames["slots_target"].drop_nulls():
            for slot in slots:
                lexicon.setdefault(slot["name"], set()).add(normalise(slot["value"]))
        return cls(
            categories=categories,
            state_tokens=states,
            intents=intents,
            slot_names=["<oov>", *sorted(lexicon)],
            slot_lexicon={k: sorted(v, key=lambda s: (-len(s), s)) for k, v in lexicon.items()},
            memory=CrowdMemory.fit(frames),
        )


@dataclass
class TurnTensors:
    """Per-turn inputs and targets, rows in the frame's order; `sessions` holds each session's row range."""

    utt: torch.Tensor  # (N, D) frozen encoder embedding of the utterance
    resp: torch.Tensor  # (N, D) ... of the response
    cats: torch.Tensor  # (N, 4) long, CATEGORICALS
    hour: torch.Tensor  # (N,) long
    state: torch.Tensor  # (N, S) bag of device-state tokens
    nums: torch.Tensor  # (N, N_NUMERIC): _numeric's columns, then label_crowd.TURN_FEATURES
    intent_evidence: torch.Tensor  # (N, len(INTENT_EVIDENCE), C) per source, a distribution over intents
    position: torch.Tensor  # (N,) long, turn index in the session (clipped)
    goal_start: torch.Tensor  # (N,) float
    goal_success: torch.Tensor  # (N,) float
    intent: torch.Tensor  # (N,) long, IGNORE when unknown target
    gold: torch.Tensor  # (N,) bool: the turn's targets come from a gold annotation
    candidates: SlotCandidates  # slot candidates, sorted by row
    cand_start: torch.Tensor  # (N + 1,) long: candidates of row i are cand_start[i]:cand_start[i + 1]
    cand_name: torch.Tensor  # (K,) long, index into spec.slot_names
    cand_features: torch.Tensor  # (K, len(label_slots.FEATURES))
    cand_target: torch.Tensor  # (K,) float: the candidate is one of its turn's target slots
    cand_known: torch.Tensor  # (K,) bool: its turn has a slot target
    sessions: list[tuple[int, int]]  # [start, end) rows of each session (or window of a long session)
    session_ids: list[str]  # the session of each entry of `sessions`


def _tensor(array) -> torch.Tensor:
    return torch.from_numpy(np.array(array))  # a writable copy (polars hands out read-only views)


def _index(values, vocab: list[str]) -> np.ndarray:
    lookup = {v: i for i, v in enumerate(vocab)}
    return np.array([lookup.get(v, 0) for v in values], dtype=np.int64)


def _numeric(frames: pl.DataFrame) -> np.ndarray:
    def col(name, fill):
        return frames[name].cast(pl.Float64).fill_null(fill).to_numpy()

    feedback = frames["explicit_feedback"]
    cols = [
        col("asr_conf", 0.5),
        frames["asr_conf"].is_null().to_numpy(),
        col("nlu_conf", 0.5),
        frames["nlu_conf"].is_null().to_numpy(),
        np.log1p(col("n_tokens", 0.0)) / 3,
        np.log1p(np.clip(col("gap_s", 0.0), 0, None)) / 5,
        frames["gap_s"].is_null().to_numpy(),
        frames["barge_in"].fill_null(False).to_numpy(),
        (feedback == "negative").fill_null(False).to_numpy(),
        (feedback == "positive").fill_null(False).to_numpy(),
    ]
    return np.stack([np.asarray(c, dtype=np.float32) for c in cols], axis=1)


def _intent_evidence(frames: pl.DataFrame, intents: list[str], evidence, contextual: bool) -> np.ndarray:
    """(N, len(INTENT_EVIDENCE), C): see INTENT_EVIDENCE."""
    n = frames.height
    out = np.zeros((n, len(INTENT_EVIDENCE), len(intents)), np.float32)
    out[:, 1] = evidence.intent_share["gold"]
    out[:, 2] = evidence.intent_share["weak"]
    nlu = _index(frames["nlu_intent"].to_list(), intents)  # 0 ("unknown") for an intent never trained on
    known = nlu > 0
    out[np.flatnonzero(known), 0, nlu[known]] = 1.0
    if contextual:
        sessions = frames["session_id"].to_numpy()
        for slot, shift in ((3, 1), (4, -1)):
            rows = np.arange(n)
            other = rows - shift
            ok = (other >= 0) & (other < n)
            ok[ok] &= sessions[other[ok]] == sessions[rows[ok]]
            ok[ok] &= known[other[ok]]
            out[rows[ok], slot, nlu[other[ok]]] = 1.0
    return out


def crowd_day(spec: FeatureSpec, day: pl.DataFrame) -> CrowdDay:
    """The crowd evidence (`label_crowd`) of the turns of `day`: the spec's training sightings with the
    day's weak ones, tallied once for the day, asked chunk by chunk."""
    return CrowdDay(spec.memory if spec.memory is not None else CrowdMemory([]), day)


def session_ranges(session_ids: list[str], max_turns: int = MAX_TURN_POSITION) -> list[tuple[int, int]]:
    """[start, end) row ranges of consecutive equal session ids, long sessions cut into windows."""
    ranges, start = [], 0
    for i in range(1, len(session_ids) + 1):
        if i == len(session_ids) or session_ids[i] != session_ids[start]:
            for s in range(start, i, max_turns):
                ranges.append((s, min(s + max_turns, i)))
            start = i
    return ranges


def encode(
    frames: pl.DataFrame,
    spec: FeatureSpec,
    embedder,
    contextual: bool = True,
    progress: bool = False,
    crowd: CrowdDay | None = None,
) -> TurnTensors:
    """Tensors of `frames` (sorted by session, then time, as load_label_frames returns them); slot candidates
    from neighbouring turns only when `contextual`. `crowd`: the crowd evidence of the day `frames` are whole
    sessions of (`crowd_day`; default: that of `frames` themselves)."""
    n = frames.height
    ids = frames["session_id"].to_list()
    ranges = session_ranges(ids)
    utt = embedder(frames["utterance"].to_list(), progress=progress)
    resp = embedder(frames["response"].to_list(), progress=progress)
    cats = np.stack([_index(frames[c].to_list(), spec.categories[c]) for c in CATEGORICALS], axis=1)
    state_index = {t: i for i, t in enumerate(spec.state_tokens)}
    state = np.zeros((n, len(spec.state_tokens)), dtype=np.float32)
    for row, text in enumerate(frames["state"].to_list()):
        for token in (text or "").split():
            state[row, state_index.get(token, 0)] = 1.0
    intents = _index(frames["intent_target"].fill_null("\0none").to_list(), spec.intents)
    intents[frames["intent_target"].is_null().to_numpy()] = IGNORE
    evidence = (crowd if crowd is not None else crowd_day(spec, frames)).evidence(frames, spec.intents)
    candidates = slot_candidates(frames, spec.lexicon(), contextual, crowd=evidence.slot_share)
    intent_evidence = _intent_evidence(frames, spec.intents, evidence, contextual)
    cand_target, cand_known = candidate_targets(candidates, frames["slots_target"].to_list())
    return TurnTensors(
        utt=_tensor(utt),
        resp=_tensor(resp),
        cats=_tensor(cats),
        hour=_tensor(frames["hour"].fill_null(0).cast(pl.Int64).to_numpy().clip(0, 23)),
        state=_tensor(state),
        nums=_tensor(np.concatenate([_numeric(frames), evidence.features], axis=1)),
        intent_evidence=_tensor(intent_evidence),
        position=_tensor(frames["turn_index"].cast(pl.Int64).to_numpy().clip(0, MAX_TURN_POSITION - 1)),
        goal_start=_tensor(frames["goal_start"].fill_null(False).cast(pl.Float32).to_numpy()),
        goal_success=_tensor(frames["goal_success"].fill_null(False).cast(pl.Float32).to_numpy()),
        intent=_tensor(intents),
        gold=_tensor(frames["has_gold"].fill_null(False).to_numpy()),
        candidates=candidates,
        cand_start=_tensor(np.searchsorted(candidates.row, np.arange(n + 1))),
        cand_name=_tensor(_index(candidates.name, spec.slot_names)),
        cand_features=_tensor(candidates.features),
        cand_target=_tensor(cand_target),
        cand_known=_tensor(cand_known),
        sessions=ranges,
        session_ids=[ids[start] for start, _ in ranges],
    )
