"""Ground truth for the audit sample: one `gold` label and one noisy single-annotator label per task.

`gold` is what the simulator knows (the adjudicated label of three annotators, in the contract's
terms). A false wake has intent `system.false_wake`, no slots and intended text "" (nothing was said to
the assistant). `ann_1` is a single annotator who gets each label right with probability `accuracy` and
otherwise makes a plausible mistake: ASR and ER blamed for each other, NLU for the result, a
correct turn called a result error, a flipped goal boundary, a sibling intent of the same domain,
a missed slot, a missed or invented rephrase, the recogniser's text taken for what was said.

A turn that taught the assistant something (`teaching.py`) also has a `preference` label {key, value}, and a
turn that relies on something taught (a concept asked for by its name, "how did my team do") a
`preference_use` label, its key; the single annotator takes the recogniser's text for the taught value, or
names the other preference.
"""

from __future__ import annotations

import random

from selflearn_assets.lib.simulator.intents import INTENTS, PERSONAL_INTENTS, PREFERENCE_INTENTS
from selflearn_assets.lib.simulator.text import stable_unit

TASKS = ("failure_point", "goal_start", "goal_success", "intent", "slots", "rephrase_of", "intended_text")
FAILURE_POINTS = ("false_wake", "asr", "nlu", "er", "result", "correct")
ROWS_PER_ANNOTATED_TURN = 2 * len(TASKS)  # a `gold` and an `ann_1` record per task (teaching tasks aside)
TEACHING_TASKS = ("preference", "preference_use")  # on the few turns that teach or use a taught item
GOLD = "gold"
SINGLE_ANNOTATOR = "ann_1"
FAILURE_MISTAKES = {
    "asr": ("er",),
    "er": ("asr",),
    "nlu": ("result",),
    "result": ("nlu", "correct"),
    "correct": ("result",),
    "false_wake": ("asr", "correct"),
}
_SIBLINGS = {i.key: [j.key for j in INTENTS if j.domain == i.domain and j.key != i.key] for i in INTENTS}
for _i in PERSONAL_INTENTS + PREFERENCE_INTENTS:  # their own siblings; the lists above stay as they were
    _SIBLINGS.setdefault(
        _i.key,
        sorted(
            {
                j.key
                for j in INTENTS + PERSONAL_INTENTS + PREFERENCE_INTENTS
                if j.domain == _i.domain and j.key != _i.key
            }
        ),
    )
_ALL_INTENTS = [i.key for i in INTENTS]


def in_audit_sample(seed: int, session_id: str, rate: float) -> bool:
    """Whether a session is annotated: a hash of (seed, session id) below `rate`. The traffic does not
    depend on it, so the same seed with another rate gives the same turns and a different sample."""
    return rate >= 1.0 or (rate > 0.0 and stable_unit(seed, "audit", session_id) < rate)


def gold_labels(gold) -> tuple:
    return (
        gold.failure,
        gold.goal_start,
        gold.goal_success,
        gold.intent,
        gold.slots,
        gold.rephrase_of,
        gold.intended_text,
    )


def teaching_labels(gold) -> list[tuple[str, object]]:
    """The teaching tasks a turn has: `preference` {key, value} on a turn that taught one, `preference_use`
    (the key) on a turn that relies on one; most turns have neither."""
    out = []
    if getattr(gold, "preference", None) is not None:
        out.append(("preference", gold.preference))
    if getattr(gold, "preference_use", None) is not None:
        out.append(("preference_use", gold.preference_use))
    return out


def annotation_records(gold, rng: random.Random, accuracy: float) -> list[dict]:
    """The 2 x 7 annotation records of one turn, and 2 more per teaching task it has."""
    labels = list(zip(TASKS, gold_labels(gold), strict=True)) + teaching_labels(gold)
    eid = gold.event_id
    out = [{"event_id": eid, "task": task, "annotator": GOLD, "label": label} for task, label in labels]
    for task, label in labels:
        if rng.random() >= accuracy:
            label = annotator_mistake(task, label, gold, rng)
        out.append({"event_id": eid, "task": task, "annotator": SINGLE_ANNOTATOR, "label": label})
    return out


def annotator_mistake(task: str, label, gold, rng: random.Random):
    if task == "failure_point":
        options = FAILURE_MISTAKES[label]
        return options[rng.randrange(len(options))]
    if task in ("goal_start", "goal_success"):
        return not label
    if task == "intent":
        options = _SIBLINGS.get(label) or _ALL_INTENTS
        return options[rng.randrange(len(options))]
    if task == "slots":
        return label[:-1] if label else label
    if task == "rephrase_of":
        return None if label is not None else gold.prev_event_id
    if task == "preference":  # what the recogniser heard taken for what was taught
        return {"key": label["key"], "value": gold.asr_text}
    if task == "preference_use":  # the preference the request could also have relied on
        return "cuisine" if label == "team" else "team"
    if task == "intended_text":
        if gold.asr_text != label:
            return gold.asr_text
        words = label.split()
        return " ".join(words[:-1]) if len(words) > 1 else label
    raise ValueError(task)
