"""Knobs of a simulation run, and its summary.

Failure knobs are per-opportunity probabilities (the chance that a stage fails when it gets the
chance), not per-turn rates: the per-turn rate of a stage also depends on how often the opportunity
arises and on how users retry (a misheard name is often misheard again). At the defaults about 15-16%
of turns are defective (first failing stage != correct); measured on 200k turns (seed 7, one day,
43,478 users; in brackets with `personal_share` 0, 197k turns, 14.4% defective):

| stage      | share of turns | driven by                                                                  |
|------------|----------------|----------------------------------------------------------------------------|
| false_wake | 1.9% (2.0%)    | `false_wake_rate`                                                          |
| asr        | 5.1% (4.2%)    | `asr_confusable_fraction` x `asr_entity_confusion_rate`, `asr_drop_rate`, `asr_word_error_rate`, the user's accent; users' own mishearings of their names (`personal_error_fraction`) |
| nlu        | 3.8% (4.2%)    | `nlu_miss_scale` (wordings the grammar gets wrong), context-blind ambiguity |
| er         | 2.9% (2.0%)    | `er_alias_rate` (partial titles, nicknames, namesakes); users' habitual short forms of their own names (`personal_error_fraction`) |
| result     | 1.9% (2.1%)    | `result_error_rate`, `result_bug_fraction`; a town name two states share, meant as the rarer one (`namesake_share`) |
| correct    | 84.3% (85.6%)  |                                                                            |

Three knobs make the logs as unkind to a rephrase miner as real ones (each 0 turns it off; all three
at 0 give the files of the simulator before them, byte for byte). They barely move the stage mix
(without them: asr 4.5%, nlu 4.4%, er 2.1%, result 2.1%, 85.0% correct), but change what follows a
failure and who says what:

| knob                 | default | per opportunity                                                        | measured (2 days, 1,200 users) |
|----------------------|---------|------------------------------------------------------------------------|--------------------------------|
| `reformulate_prob`   | 0.25    | a retry after a failure is another request of the same domain (another intent, another or one more detail): a new goal, as quick as a rephrase; never for a request about the user's own things | 0.25 of the other retries |
| `wrong_success_rate` | 0.4     | a misunderstood request the assistant would refuse (a name ER does not know, a question the web cannot answer) is executed on a guess and reported as a success; the user notices half of them; never for the user's own contacts, playlists, devices | 0.4 of such requests |
| `long_tail_share`    | 0.2     | an entity drawn by popularity comes from the catalog's long tail (rare names, `catalog.TAIL_SIZES`) | 0.2 of named entities |

Three knobs add personal error sources (`personal.py`): each user's own contacts, playlists, named
devices and places, from name spaces large enough that each is held by few users, and errors on
them that recur for that user: what only a layer that knows the user can fix. With all three at 0
nothing of it is built or drawn and the files are those of the simulator before them, byte for byte.
Measured on 2 days x 1,000 users (seed 7, every session annotated): 16.0% of turns defective (13.6%
with `personal_share` 0); 2.35% of turns are defective because of a user's own error, 14.8% of the
defective turns (a mishearing: 108 turns, a short form: 115, a rare twin town: 1); of their 212
distinct texts 211 are said by a single user and none by 3 or more (a table with min_users >= 3
holds none of them; at 10,000 users none of 2,040). On the 43,478-user day above: 2.4% of turns,
15.5% of defective turns.

| knob                      | default | per opportunity                                                   | measured (2 days, 1,000 users) |
|---------------------------|---------|-------------------------------------------------------------------|--------------------------------|
| `personal_share`          | 0.1     | a goal is about one of the user's own things: a contact ("call tavin"), a playlist ("play my velvet harbor jams playlist"), a named device ("turn on the reading nook lamp"), a habitual place, a liked title | 9.7% of goals |
| `personal_error_fraction` | 0.3     | one of the user's contacts, playlists, devices, towns carries their own recurring error: half a mishearing fixed by their accent (on 90% of habitual sayings, 10% of careful ones), half a habitual short form ER does not know (on 90% of first attempts); the retry says it carefully or in full | 29% of their things (14.4% a mishearing, 14.8% a short form) |
| `namesake_share`          | 0.1     | a user's first place is a town that exists in two states (1 in 4 of them the rarer one: "wilkerson" is served as Washington, they meant California: a result failure until they add the state); a user likes a rare title one word away from a popular one's (said right, served right) | 8.9% of users with a twin town, 8.4% with a near-namesake title |

`SimSummary.defect_rate_by_stage` reports the figures of a run, `SimSummary.personal_defect_rate`
the share of turns defective because of a personal error source.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

# Mean turns per user and day at the default behaviour knobs (measured; see `users_for_turns`).
TURNS_PER_USER_DAY = 4.6


_PROBABILITIES = (
    "routine_share false_wake_rate asr_confusable_fraction asr_entity_confusion_rate asr_drop_rate "
    "asr_word_error_rate er_alias_rate result_error_rate result_bug_fraction rephrase_prob rephrase_decay "
    "continue_prob barge_in_failure barge_in_success feedback_rate teach_prob annotation_rate "
    "annotator_accuracy treatment_fraction reformulate_prob wrong_success_rate long_tail_share personal_share "
    "personal_error_fraction namesake_share concept_share concept_use state_prob redefine_share news_source_share "
    "music_service_share preference_change_share"
).split()


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. Every field has a default that works; see the module docstring for the rates."""

    seed: int = 7
    users: int = 5000
    start: date = date(2026, 1, 1)
    days: int = 1
    # the catalogs; kept apart from `seed` so that all runs (and rewrite tables) share one world
    world_seed: int = 20260101

    # traffic
    sessions_per_user_day: float = 3.0  # mean; each user has their own rate around it
    # P(trying one of the user's own recurring requests; kept when it fits the time of day)
    routine_share: float = 0.5

    # failures, per opportunity
    false_wake_rate: float = 0.03  # share of sessions that are background speech, not a request
    asr_confusable_fraction: float = 0.25  # entities whose name ASR mishears, always the same way
    asr_entity_confusion_rate: float = 0.22  # P(it is misheard | such a name is said), x the user's accent
    asr_drop_rate: float = 0.006  # P(a word is dropped) per utterance
    asr_word_error_rate: float = 0.008  # P(a common word is misheard: for -> four) per utterance
    # weight of the wordings the NLU grammar gets wrong (0: users only say what it covers)
    nlu_miss_scale: float = 1.0
    er_alias_rate: float = 0.08  # P(an entity is named by a partial title or nickname)
    result_error_rate: float = 0.008  # P(fulfilment returns the wrong item) per understood request
    result_bug_fraction: float = 0.04  # entities fulfilment always gets wrong unless given more detail
    # P(a misunderstood request the assistant would refuse is executed on a guess and reported as a
    # success: an unknown name fuzzy-matched to another entity, a question answered off the web)
    wrong_success_rate: float = 0.4

    # user behaviour
    rephrase_prob: float = 0.8  # P(retry) after the first failure of a goal ...
    rephrase_decay: float = 0.7  # ... multiplied by this for every further failure
    max_attempts: int = 4
    # P(a retry after a failure is a different request of the same domain: a new goal, not a rephrase)
    reformulate_prob: float = 0.25
    # P(an entity drawn by popularity comes from the long tail: rare names, each said by few users)
    long_tail_share: float = 0.2
    # personal error sources (`personal.py`); with all three at 0 the files are those of the simulator
    # before them. P(a goal is about one of the user's own things: a contact, a playlist, a named
    # device, a habitual place, a liked title); 0 also leaves the world and the grammar without them
    personal_share: float = 0.1
    # share of a user's contacts, playlists, devices and towns they get wrong their own recurring way
    # (a mishearing fixed by their accent, or a habitual short form ER does not know)
    personal_error_fraction: float = 0.3
    # P(a user's first habitual place is a town that exists in two states), and P(a user likes a rare
    # title whose name is close to a popular one's)
    namesake_share: float = 0.1
    continue_prob: float = 0.3  # P(another goal in the same session) after a success
    barge_in_failure: float = 0.35  # P(barge-in) on a failing turn (x1.8 when the wrong media plays)
    barge_in_success: float = 0.03
    feedback_rate: float = 0.05  # P(the user answers a satisfaction prompt) per goal
    teach_prob: float = 0.55  # P(the user teaches the preference when the assistant asks for it)
    # teachable AI (`teaching.py`): users' own concepts, taught through the runtime
    teaching: bool = True  # the assistant keeps what users teach (in the runtime); False: it never learns
    concept_share: float = (
        0.3  # share of users with concepts of their own ("study mode" = one of their routines)
    )
    concept_use: float = 0.5  # P(a goal that one of the user's concepts names is asked for by that name)
    state_prob: float = 0.1  # P(a session opens with the user defining a concept the runtime lacks)
    redefine_share: float = (
        0.2  # share of users with concepts who give one of them another meaning on a later day
    )
    # preferences a request relies on without naming them (`users.py`): share of users with a news source ("play
    # the news" means theirs), with a music service ("play <artist / song>" on theirs); where it is not the
    # assistant's default such a request fails at the result until taught. Users state them unasked (`state_prob`
    # a session, while the runtime lacks them) or after having to name one. 0: nothing of it is drawn
    news_source_share: float = 0.2
    music_service_share: float = 0.15
    # share of users who change one of their preferences (team, cuisine, news source, music service) from a later
    # day on, and state the new one (`state_prob` a session, once the runtime holds the old one)
    preference_change_share: float = 0.1
    teaching_heldout_days: int = (
        1  # the last days teach with the held-out phrasings (`teaching.phrasing_set`)
    )

    # ground truth
    annotation_rate: float = 0.10  # share of sessions (by a hash of the session id) with labels
    annotator_accuracy: float = 0.87  # per-label accuracy of the single annotator `ann_1`

    # rewrite hook and A/B split (records carry `ab_arm` when a table is given)
    rewrite_table: Path | None = None  # parquet in the rewrite export format
    treatment_fraction: float = 0.5  # share of users (by a hash of seed and user id) who get rewrites
    # with rewrite_table: every user in this one arm ("control": the table never fires, "treatment": it fires
    # for all) instead of the treatment_fraction split; the evaluation's counterfactual replay runs the same
    # day and users once per arm, so that the arms differ only by what the table did
    ab_arm: str | None = None
    # three-arm A/B of the online rewriter: an online export folder (exports/online/date=D); users are split
    # in thirds by a hash (`rewrites.online_arm`): control (the table only), global (table + global layer),
    # personal (table + global + personal layers); every arm gets `rewrite_table`. `online_key`: the
    # pseudonym key the export's logs were ingested with (the runtime pseudonymises the raw user ids with it)
    online_bundle: Path | None = None
    online_key: str = ""
    # with online_bundle: every user in this one arm instead of thirds (the counterfactual replay runs the same
    # day and users once per arm, so that arms differ only by what the rewriter did)
    online_arm: str | None = None

    shard_lines: int = 250_000  # lines per part file
    workers: int = 1  # processes simulating chunks of users; the files do not depend on it

    def __post_init__(self) -> None:
        # accept what a command line gives: an ISO date, a path string
        if isinstance(self.start, str):
            object.__setattr__(self, "start", date.fromisoformat(self.start))
        if isinstance(self.rewrite_table, str):
            object.__setattr__(self, "rewrite_table", Path(self.rewrite_table))
        if isinstance(self.online_bundle, str):
            object.__setattr__(self, "online_bundle", Path(self.online_bundle))
        if self.ab_arm not in (None, "control", "treatment"):
            raise ValueError(f"ab_arm must be control or treatment (or None), not {self.ab_arm!r}")
        if self.online_arm not in (None, "control", "global", "personal"):
            raise ValueError(
                f"online_arm must be control, global or personal (or None), not {self.online_arm!r}"
            )
        if min(self.users, self.days, self.shard_lines, self.workers) < 1:
            raise ValueError("users, days, shard_lines and workers must be >= 1")
        if not 1 <= self.max_attempts <= 16:
            raise ValueError("max_attempts must be in 1..16")
        for name in _PROBABILITIES:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability, got {getattr(self, name)}")
        if self.teaching_heldout_days < 0:
            raise ValueError("teaching_heldout_days must be >= 0")
        if self.sessions_per_user_day <= 0 or self.nlu_miss_scale < 0:
            raise ValueError("sessions_per_user_day must be > 0 and nlu_miss_scale >= 0")

    @classmethod
    def for_turns(cls, turns_per_day: int, **kwargs) -> SimConfig:
        """A config whose days have about `turns_per_day` turns."""
        return replace(cls(**kwargs), users=users_for_turns(turns_per_day))


def users_for_turns(turns_per_day: int) -> int:
    """Users needed for about `turns_per_day` turns a day at the default behaviour knobs.

    >>> users_for_turns(1_000_000)
    217391
    """
    return max(1, round(turns_per_day / TURNS_PER_USER_DAY))


@dataclass
class SimSummary:
    turns_per_day: dict[str, int]
    sessions: int
    users: int
    defect_rate_by_stage: dict[str, float]  # share of all turns whose first failing stage is this one
    defect_rate: float
    files: list[Path]
    annotation_files: list[Path]
    annotated_turns: int
    seconds: float
    # share of all turns that are defective because of a personal error source (`personal.py`)
    personal_defect_rate: float = 0.0

    @property
    def turns(self) -> int:
        return sum(self.turns_per_day.values())

    @property
    def turns_per_second(self) -> float:
        return self.turns / self.seconds if self.seconds else 0.0
