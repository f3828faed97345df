"""Knobs of a corpus world: who talks how often, how they react to failures, how much is annotated.

The corpus decides what ASR hears and what NLU understands (real recordings, real predictions); these
knobs decide the traffic around it. Defaults aim at ~6 turns per user and day:

| knob                        | default | meaning                                                              |
|-----------------------------|---------|----------------------------------------------------------------------|
| sessions_per_user_day       | 2.6     | mean sessions a user starts a day (Poisson, each user around it)     |
| favourite_share             | 0.55    | P(a goal is one of the user's few favourite sentences)               |
| popularity_exponent         | 1.0     | Zipf exponent of sentence popularity (ranks shuffled by the seed)    |
| same_recording              | 0.85    | P(the user sounds as usual: their preferred recording of a sentence) |
| false_wake_rate             | 0.03    | share of sessions that are background speech                         |
| er_unresolved_rate          | 0.05    | P(a right interpretation with slots names an entity ER cannot find)  |
| result_error_rate           | 0.02    | P(a right, resolved request is fulfilled wrongly)                    |
| claim_success_when_wrong    | 0.6     | P(a wrong interpretation is acted on and reported as a success)      |
| rephrase_prob/decay         | 0.8/0.7 | P(retry) after the first failure, x decay per further failure        |
| reformulate_prob            | 0.5     | P(a retry says another sentence of the same intent, not the same one)|
| continue_prob               | 0.35    | P(another goal after a success; half of it after a failure)          |
| barge_in_failure/success    | 0.35/0.03 | P(barge-in) on a failing / succeeding turn                         |
| feedback_rate               | 0.05    | P(the user answers a satisfaction prompt) per goal                   |
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

_PROBABILITIES = (
    "favourite_share same_recording false_wake_rate er_unresolved_rate result_error_rate "
    "claim_success_when_wrong rephrase_prob rephrase_decay reformulate_prob continue_prob "
    "barge_in_failure barge_in_success feedback_rate annotation_rate annotator_accuracy treatment_fraction"
).split()


@dataclass(frozen=True)
class CorpusSimConfig:
    """What to simulate over a real corpus (`load.load_corpus`). Every knob has a working default."""

    corpus: Path = Path("../shared/data")
    seed: int = 7
    users: int = 800
    start: date = date(2026, 11, 1)
    days: int = 5

    # traffic
    sessions_per_user_day: float = 2.6
    favourites: int = 4  # recurring sentences per user (2..favourites)
    favourite_share: float = 0.55
    popularity_exponent: float = 1.0
    same_recording: float = 0.85

    # failures
    false_wake_rate: float = 0.03
    er_unresolved_rate: float = 0.05
    result_error_rate: float = 0.02
    claim_success_when_wrong: float = 0.6

    # user behaviour
    rephrase_prob: float = 0.8
    rephrase_decay: float = 0.7
    max_attempts: int = 4
    reformulate_prob: float = 0.5
    continue_prob: float = 0.35
    max_goals: int = 4
    barge_in_failure: float = 0.35
    barge_in_success: float = 0.03
    feedback_rate: float = 0.05

    # ground truth
    annotation_rate: float = 0.3
    annotator_accuracy: float = 0.86
    unannotated_last_days: int = 0  # no audit labels on the last N days (the `_gold/` folder has all)

    # rewrite hook and A/B split
    rewrite_table: Path | None = None
    treatment_fraction: float = 0.5
    # with rewrite_table: every user in this one arm ("control" or "treatment") instead of the split (the
    # evaluation's counterfactual replay: the same day and users once per arm)
    ab_arm: str | None = None

    shard_lines: int = 250_000

    def __post_init__(self) -> None:
        if isinstance(self.corpus, str):
            object.__setattr__(self, "corpus", Path(self.corpus))
        if isinstance(self.start, str):
            object.__setattr__(self, "start", date.fromisoformat(self.start))
        if isinstance(self.rewrite_table, str):
            object.__setattr__(self, "rewrite_table", Path(self.rewrite_table))
        if self.ab_arm not in (None, "control", "treatment"):
            raise ValueError(f"ab_arm must be control or treatment (or None), not {self.ab_arm!r}")
        if min(self.users, self.days, self.shard_lines, self.max_attempts, self.max_goals) < 1:
            raise ValueError("users, days, shard_lines, max_attempts and max_goals must be >= 1")
        if self.favourites < 2 or self.unannotated_last_days < 0 or self.sessions_per_user_day <= 0:
            raise ValueError("favourites must be >= 2, unannotated_last_days >= 0, sessions_per_user_day > 0")
        for name in _PROBABILITIES:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
