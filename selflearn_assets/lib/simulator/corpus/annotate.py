"""Labels of a corpus world's turns, in the annotations contract.

Two outputs share one `Gold` per turn (`behaviour.Gold`, the embedded simulator's):
- the audit sample (`annotations/`): `gold` + single annotator `ann_1`, as the embedded simulator's
  `annotate.annotation_records` writes them, except that a mistaken intent is a sibling intent of
  the same scenario *in the corpus* (the embedded simulator's intents are not the corpus');
- the evaluation gold (`_gold/`): the 7 `gold` records of every turn, for judges and benches only.
"""

from __future__ import annotations

import random

from selflearn_assets.lib.simulator.annotate import (
    GOLD,
    SINGLE_ANNOTATOR,
    TASKS,
    annotator_mistake,
    gold_labels,
)


class CorpusAnnotator:
    def __init__(self, intents: list[str], accuracy: float) -> None:
        by_scenario: dict[str, list[str]] = {}
        for key in intents:
            by_scenario.setdefault(key.split(".", 1)[0], []).append(key)
        self.siblings = {k: [j for j in by_scenario[k.split(".", 1)[0]] if j != k] for k in intents}
        self.intents = list(intents)
        self.accuracy = accuracy

    def gold_records(self, gold) -> list[dict]:
        """The 7 `gold` records of one turn."""
        return [
            {"event_id": gold.event_id, "task": task, "annotator": GOLD, "label": label}
            for task, label in zip(TASKS, gold_labels(gold), strict=True)
        ]

    def annotator_records(self, gold, rng: random.Random) -> list[dict]:
        """The 7 `ann_1` records of one turn: each label right with probability `accuracy`."""
        out = []
        for task, label in zip(TASKS, gold_labels(gold), strict=True):
            if rng.random() >= self.accuracy:
                if task == "intent":
                    options = self.siblings.get(label) or self.intents
                    label = options[rng.randrange(len(options))] if options else label
                else:
                    label = annotator_mistake(task, label, gold, rng)
            out.append(
                {"event_id": gold.event_id, "task": task, "annotator": SINGLE_ANNOTATOR, "label": label}
            )
        return out
