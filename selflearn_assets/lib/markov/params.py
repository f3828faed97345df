"""Every threshold of the Markov rewrite miner, with its default and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from selflearn_assets.lib.markov.posterior import QUADRATURE_NODES
from selflearn_assets.lib.markov.solve import DENSE_MAX, LU_MAX

PRIVACY_FLOOR = 5  # least distinct users behind a global rewrite, unless unsafe_min_users


@dataclass(frozen=True)
class MarkovParams:
    """Thresholds of `mine_rewrites`. Probabilities are P(chain ends in SUCCESS) from a state.

    | field                   | default | meaning                                                        |
    |-------------------------|---------|----------------------------------------------------------------|
    | window_days             | 14      | days of per-day rows the caller passes (not read here)         |
    | max_source_success      | 0.5     | only utterances at most this likely to succeed get a rewrite   |
    | min_target_success      | 0.3     | a rewrite must be at least this likely to succeed (low: on     |
    |                         |         | real speech even the right words often fail; the meaning and   |
    |                         |         | precision gates, not success alone, decide what is right)      |
    | min_gain                | 0.1     | and at least this much likelier than its source (always > 0)   |
    | max_hops                | 3       | the target is reached from the source in at most this many     |
    |                         |         | reformulations (src → … → target, self-repeats not counted)    |
    | min_support_transitions | 10      | every edge on that path was taken at least this often          |
    | min_users               | 5       | privacy (k-anonymity): every edge on the path was taken by,    |
    |                         |         | (below PRIVACY_FLOOR = 5 only with unsafe_min_users)           |
    |                         |         | and the target said by, at least this many distinct users      |
    | unsafe_min_users        | False   | allow min_users under PRIVACY_FLOOR (tests, small worlds); the |
    |                         |         | mining report, the export manifest and the metadata record it  |
    | keep_threshold          | 0.8     | self-aware: a deployed rewrite stays while P(θ_rewritten >     |
    |                         |         | θ_source) is at least this                                     |
    | min_trials              | 20      | self-aware: with fewer rewritten (or un-rewritten) turns of a  |
    |                         |         | deployed rewrite, it stays with verdict "insufficient_evidence"|
    | min_meaning_score       | 0.6     | the target keeps the source's meaning: every span where they  |
    |                         |         | differ scores at least this (`meaning.py`)                     |
    | neighbours              | True    | also pair sources with successful utterances that sound like   |
    |                         |         | them, with no reformulation path (`neighbours.py`); only where |
    |                         |         | the window has audit gold for the precision gate               |
    | neighbour_char_cutoff   | 70      | block: rapidfuzz ratio of the two utterances at least this     |
    | min_neighbour_meaning   | 0.75    | the meaning gate for neighbours                                |
    | min_gold_override       | 5       | a path candidate below the meaning gate still goes to the      |
    |                         |         | precision gate when this many gold turns said its source       |
    |                         |         | (0: never)                                                     |
    | min_label_intent_share  | 0.7     | the label model reads a source as one intent when that intent  |
    |                         |         | has at least this share of its turns (0: no intent gate) ...   |
    | min_label_intent_turns  | 3       | ... of at least this many labelled turns                       |
    | min_precision           | 0.9     | abstain unless the calibrated precision on audit gold is at    |
    |                         |         | least this (a table's win/loss of 11.8 needs ~0.92 over its    |
    |                         |         | fired turns, which the most-said, most-audited sources dominate)|
    | prior_precision         | 0.85    | precision assumed for a stratum before its gold (`precision.py`)|
    | prior_strength          | 1.0     | weight, in gold turns, of that prior and of a stratum's        |
    |                         |         | precision over a candidate's own gold                          |
    | dense_max               | 64      | solver: components up to this size: batched dense solves       |
    | lu_max                  | 2048    | solver: up to this size sparse LU, above it BiCGSTAB (checked) |
    | quadrature_nodes        | 48      | Gauss–Legendre nodes of the Beta comparisons                   |
    """

    window_days: int = 14
    max_source_success: float = 0.5
    min_target_success: float = 0.3
    min_gain: float = 0.1
    max_hops: int = 3
    min_support_transitions: int = 10
    min_users: int = 5
    unsafe_min_users: bool = False
    keep_threshold: float = 0.8
    min_trials: int = 20
    min_meaning_score: float = 0.6
    neighbours: bool = True
    neighbour_char_cutoff: float = 70.0
    min_neighbour_meaning: float = 0.75
    min_gold_override: int = 5
    min_label_intent_share: float = 0.7
    min_label_intent_turns: int = 3
    min_precision: float = 0.9
    prior_precision: float = 0.85
    prior_strength: float = 1.0
    dense_max: int = DENSE_MAX
    lu_max: int = LU_MAX
    quadrature_nodes: int = QUADRATURE_NODES

    def __post_init__(self) -> None:
        for name in (
            "max_source_success",
            "min_target_success",
            "min_gain",
            "keep_threshold",
            "min_meaning_score",
            "min_neighbour_meaning",
            "min_label_intent_share",
            "min_precision",
            "prior_precision",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"MarkovParams.{name} must be within [0, 1], got {value}")
        for name in (
            "window_days",
            "max_hops",
            "min_support_transitions",
            "min_users",
            "dense_max",
            "lu_max",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"MarkovParams.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.neighbour_char_cutoff <= 100.0:
            raise ValueError(f"MarkovParams.neighbour_char_cutoff must be within [0, 100], got {self.neighbour_char_cutoff}")
        if self.min_users < PRIVACY_FLOOR and not self.unsafe_min_users:
            raise ValueError(
                f"MarkovParams.min_users {self.min_users} is under the privacy floor {PRIVACY_FLOOR} (no single "
                "customer's words may become a global rewrite); set unsafe_min_users: true to allow it, which "
                "the export records"
            )
        if self.prior_strength <= 0:
            raise ValueError(f"MarkovParams.prior_strength must be > 0, got {self.prior_strength}")
        if self.min_gold_override < 0 or self.min_label_intent_turns < 1:
            raise ValueError("MarkovParams.min_gold_override must be >= 0 and min_label_intent_turns >= 1")
        if self.min_gold_override < 0:
            raise ValueError(f"MarkovParams.min_gold_override must be >= 0, got {self.min_gold_override}")
        if self.min_trials < 0 or self.quadrature_nodes < 2:
            raise ValueError("MarkovParams.min_trials must be >= 0 and quadrature_nodes >= 2")

    def as_dict(self) -> dict:
        return asdict(self)
