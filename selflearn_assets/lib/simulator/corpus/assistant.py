"""The assistant of a corpus world: real ASR and NLU output, then a simulated ER, fulfilment and reply.

What was heard and understood is the corpus' own record (one recording of the sentence and the NLU
prediction made from it); for treatment users a rewrite table may replace the heard text before NLU,
and then the interpretation is what the corpus' NLU made of the rewrite text (`Corpus.interpret`), or
nothing when the corpus never saw it (the assistant does not understand: `unsupported`, no NLU fields).

First failing stage (the gold failure point), by `failure_point`:
- the interpretation is wrong (intent differs, or the slot set differs with values normalised):
  `nlu` when what reached the recogniser was heard right (normalised ASR text == reference), else
  `asr`. With a rewrite the same rule holds: a rewrite that broke a well-heard request is `nlu`, an
  ASR error the rewrite did not repair stays `asr`;
- right, with slots, and ER cannot resolve an entity (`er_unresolved_rate`): `er` (a clarifying reply);
- right and resolved but fulfilled wrongly (`result_error_rate`): `result`;
- otherwise `correct`.

The reply names what was understood ("OK, alarm set: five am."). A wrong interpretation is acted on
and reported as a success with `claim_success_when_wrong`, else it ends in clarify/error/unsupported.
"""

from __future__ import annotations

import random

from selflearn_assets.lib.markov.normalize import normalize_utterance
from selflearn_assets.lib.simulator.corpus.config import CorpusSimConfig
from selflearn_assets.lib.simulator.corpus.load import Corpus, Interpretation, Recording, Sentence
from selflearn_assets.lib.simulator.text import noise, normalize_text

WRONG_STATUSES = (("clarify", 0.4), ("error", 0.25), ("unsupported", 0.35))
SORRY = {
    "clarify": "Sorry, which {slot} did you mean?",
    "error": "Sorry, something went wrong. Please try again later.",
    "unsupported": "Sorry, I can't help with that yet.",
    "no_response": "",
}


class CorpusTurn:
    """What the assistant logged for one turn, and its gold failure point."""

    __slots__ = ("asr_text", "asr_confidence", "wake_score", "interp", "rewrite", "nlu_confidence",
                 "er_status", "response_text", "status", "duration_ms", "failure")  # fmt: skip

    @property
    def success(self) -> bool:
        return self.failure == "correct"


def failure_point(
    reference: str, heard: str, interp: Interpretation | None, gold: Interpretation
) -> str | None:
    """`asr` or `nlu` when the interpretation is wrong (see the module docstring), None when it is right."""
    if gold.same_meaning(interp):
        return None
    return "nlu" if normalize_utterance(heard) == normalize_utterance(reference) else "asr"


class CorpusAssistant:
    def __init__(
        self, corpus: Corpus, cfg: CorpusSimConfig, rewrites: dict[str, tuple[str, str, str]]
    ) -> None:
        self.corpus = corpus
        self.cfg = cfg
        self.rewrites = rewrites

    def request(self, rng: random.Random, sentence: Sentence, rec: Recording, treated: bool) -> CorpusTurn:
        cfg, rand = self.cfg, rng.random
        t = CorpusTurn()
        heard = rec.asr_text
        t.asr_text = heard
        t.rewrite = self.rewrites.get(normalize_text(heard)) if treated and heard.strip() else None
        if not heard.strip():
            interp = None
        elif t.rewrite is not None:
            interp = self.corpus.interpret(t.rewrite[2])
        else:
            interp = rec.predicted
        t.interp = interp
        misheard = normalize_utterance(heard) != normalize_utterance(sentence.text)
        t.asr_confidence = _clip((0.62 if misheard else 0.9) + 0.07 * noise(rand)) if heard.strip() else 0.0
        t.wake_score = _clip(0.86 + 0.05 * noise(rand))
        wrong = failure_point(sentence.text, heard, interp, sentence.gold)
        t.nlu_confidence = _clip((0.55 if wrong else 0.84) + 0.09 * noise(rand)) if interp else 0.05
        t.er_status = "not_applicable"
        if not heard.strip():
            t.failure, t.status = "asr", "no_response"
        elif interp is None:
            t.failure, t.status = wrong, "unsupported"
        elif wrong:
            t.failure = wrong
            t.er_status = "resolved" if interp.slots else "not_applicable"
            t.status = (
                "success" if rand() < cfg.claim_success_when_wrong else pick_share(rand(), WRONG_STATUSES)
            )
        elif interp.slots and rand() < cfg.er_unresolved_rate:
            t.failure, t.status, t.er_status = "er", "clarify", "unresolved"
        else:
            t.er_status = "resolved" if interp.slots else "not_applicable"
            t.failure = "result" if rand() < cfg.result_error_rate else "correct"
            t.status = "success"
        self._reply(t)
        return t

    def false_wake(self, rng: random.Random, text: str) -> CorpusTurn:
        """Background speech woke the device: the NLU makes of it what the corpus' NLU would."""
        rand = rng.random
        t = CorpusTurn()
        t.asr_text, t.rewrite = text, None
        t.asr_confidence = _clip(0.45 + 0.15 * noise(rand)) if text else 0.0
        t.wake_score = _clip(0.58 + 0.14 * noise(rand))
        t.interp = self.corpus.interpret(text) if text else None
        t.nlu_confidence = _clip(0.4 + 0.1 * noise(rand)) if t.interp else 0.05
        t.er_status = "not_applicable"
        t.failure = "false_wake"
        t.status = "no_response" if not text else "success" if t.interp and rand() < 0.5 else "unsupported"
        self._reply(t)
        return t

    @staticmethod
    def _reply(t: CorpusTurn) -> None:
        if t.status == "success" and t.interp is not None:
            text = "OK, " + t.interp.domain.replace("_", " ") + " " + t.interp.name.replace("_", " ")
            values = ", ".join(v for _, v in t.interp.slots)
            text += f": {values}." if values else "."
        else:
            slot = t.interp.slots[0][0].replace("_", " ") if t.interp and t.interp.slots else "one"
            text = SORRY[t.status].format(slot=slot)
        t.response_text = text
        t.duration_ms = (350 + 330 * (text.count(" ") + 1)) if text else 0


def pick_share(u: float, options):
    """The option whose share of [0, 1) holds `u` (options: (value, share) pairs)."""
    for value, p in options:
        if u < p:
            return value
        u -= p
    return options[-1][0]


def _clip(x: float) -> float:
    return int(min(0.99, max(0.01, x)) * 1000.0 + 0.5) / 1000.0
