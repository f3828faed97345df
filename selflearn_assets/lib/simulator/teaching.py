"""Teachable AI in the simulated world: users' own concepts, the teaching exchanges, and their truth.

A user (with `SimConfig.concept_share`) has one or two **concepts** of their own: a name they use for one of
their routine requests ("study mode" for "turn on the reading nook lamp", "wind down" for "play a jazz
station"). The names come from one shared list, so two users' "study mode" usually mean different things;
what a concept means is personal. Asked by its name ("turn on study mode", "time for study mode"), the
assistant does not understand it (an NLU failure) until it is taught; once taught, the runtime's personal
layer rewrites the name into the definition (`Rewriter.rewrite`), and the request succeeds.

Teaching happens two ways (Ping et al. 2020):
- **assistant-initiated**: a request the assistant could not handle that asks for a name by an activation
  ("turn on study mode"; `asks_about`) gets "I don't know study mode yet. What should I do when you say it?"
  (a concept said bare is not asked about); the user (`teach_prob`)
  answers with the definition (`ANSWERS`), the assistant stores it through the runtime (`Rewriter.teach`),
  confirms, and the user asks again: the very next request uses it;
- **customer-initiated**: at the start of a session the user states it (`STATEMENTS`, "when i say study
  mode i mean turn on the reading nook lamp"), with `state_prob` a session while it is untaught or out of date.

A concept may be **redefined** later: from a day of the user's (`redefine_share` of users with concepts), its
definition is another of their routines; the runtime still holds the old one (the rewritten request does the
old thing: a failure), and the user states the new one, which replaces it (history kept by the runtime).

Teaching phrasings come in two disjoint sets, `train` and `heldout` (`phrasing_set`): the world's last
`SimConfig.teaching_heldout_days` days use the held-out set, so an extraction model trained on the earlier
days' annotations is evaluated on phrasings it never saw. The assistant's own teaching grammar understands
both (`statement` / `answer_value`): the split is for the platform's models, not for the assistant.

Truth: the teaching turn gets a `preference` annotation `{"key": "concept:<name>", "value": <definition>}`,
and a later turn that relies on a taught concept a `preference_use` annotation with its key.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from selflearn_assets.lib.simulator.text import mix64, normalize_text, stable_int, stable_unit

# shared names; what each means is the user's own
CONCEPT_NAMES = (
    "study mode", "movie night", "wind down", "focus time", "party mode", "bedtime", "morning routine",
    "cozy mode", "quiet time", "game night", "reading time", "date night", "workout mode", "dinner time",
    "wake up time", "relax mode", "clean up time", "homework time", "nap time", "family time",
    "chill mode", "work mode", "sunday morning", "lazy evening",
)  # fmt: skip
# how a user asks for a concept by its name
ACTIVATIONS = ("{concept}", "start {concept}", "turn on {concept}", "activate {concept}", "it's {concept}",
               "time for {concept}", "switch to {concept}", "let's do {concept}")  # fmt: skip
# the user's answer to the assistant's question, by phrasing set
ANSWERS = {
    "train": ("{definition}", "just {definition}", "it means {definition}", "{definition} thanks"),
    "heldout": ("you should {definition}", "i want you to {definition}", "that means {definition}",
                "{definition} that's all"),
}  # fmt: skip
# a definition stated unprompted, by phrasing set
STATEMENTS = {
    "train": ("when i say {concept} i mean {definition}", "{concept} means {definition}",
              "remember that {concept} means {definition}"),
    "heldout": ("learn that {concept} is {definition}", "whenever i say {concept} you should {definition}",
                "from now on {concept} means {definition}"),
}  # fmt: skip
PHRASING_SETS = tuple(ANSWERS)
ASK = "I don't know {concept} yet. What should I do when you say it?"
CONFIRM = "Okay. When you say {concept}, I'll {definition}."
TEACH_INTENT = "teaching.define_concept"  # what the assistant's NLU logs for a teaching turn
CONCEPT_KEY = "concept:"
MAX_CONCEPTS = 2

def _rule(template: str) -> re.Pattern:
    """A template as the assistant matches it on normalised text: its words normalised, {concept} the
    shortest phrase, {definition} the rest."""
    parts = re.split(r"(\{concept\}|\{definition\})", template)
    out = []
    for part in parts:
        if part == "{concept}":
            out.append("(?P<concept>.+?)")
        elif part == "{definition}":
            out.append("(?P<definition>.+?)")
        elif part.strip():
            lead, trail = part[0] == " ", part[-1] == " "
            out.append((" " if lead else "") + re.escape(normalize_text(part)) + (" " if trail else ""))
        else:
            out.append(part)
    return re.compile("^" + "".join(out) + "$")


def _literal(template: str) -> int:
    return len(template.replace("{concept}", "").replace("{definition}", ""))


# the assistant's teaching grammar: every statement of both sets (more literal words first: "remember that X
# means Y" is not "X means Y"), and the filler around an answer
_STATEMENT_RULES = [_rule(t) for t in sorted((t for p in STATEMENTS.values() for t in p), key=lambda t: -_literal(t))]
_ANSWER_RULES = [_rule(t) for t in sorted((t for p in ANSWERS.values() for t in p if t != "{definition}"),
                                          key=lambda t: -_literal(t))]  # fmt: skip
_ACTIVATION_PARTS = [tuple(normalize_text(x) for x in t.split("{concept}")) for t in ACTIVATIONS[1:]]


@dataclass(frozen=True)
class Concept:
    name: str  # "study mode"
    definition: str  # the routine request it stands for, as the user says it
    intent: object  # the routine's Intent
    slots: tuple  # the routine's slots ((kind, entity index), ...)
    activation: str  # the user's habitual way of asking for it ("turn on {concept}")

    @property
    def key(self) -> str:
        return CONCEPT_KEY + self.name


@dataclass(frozen=True)
class UserConcepts:
    concepts: tuple[Concept, ...]
    redefined: dict  # concept name -> (first day ordinal of the new definition, the new Concept)

    def current(self, concept: Concept, ordinal: int) -> Concept:
        """The concept as the user means it on the day `ordinal` (after a redefinition, the new one)."""
        change = self.redefined.get(concept.name)
        return change[1] if change is not None and ordinal >= change[0] else concept


NO_CONCEPTS = UserConcepts((), {})


def phrasing_set(cfg, ordinal: int) -> str:
    """`train`, or `heldout` on the world's last `teaching_heldout_days` days."""
    last = cfg.start.toordinal() + cfg.days - 1
    return "heldout" if ordinal > last - cfg.teaching_heldout_days else "train"


def concepts_of(cfg, u, render) -> UserConcepts:
    """The concepts of user `u` (deterministic for the seed and the user): from their routines that name no
    preference of theirs; `render(intent, slots, template) -> text` says a routine as the user says it."""
    if cfg.concept_share <= 0 or stable_unit(cfg.seed, "concepts", u.id) >= cfg.concept_share:
        return NO_CONCEPTS
    rng = random.Random(mix64(stable_int(cfg.seed, "concept-draw", u.id)))
    routines = [r for r in u.routines if "{" not in r[2] or r[1]]  # (intent, slots, template, bucket)
    definitions = []
    for intent, slots, template, _ in routines:
        text = normalize_text(render(intent, slots, template))
        if text and all(text != d[0] for d in definitions):
            definitions.append((text, intent, slots))
    if not definitions:
        return NO_CONCEPTS
    n = min(len(definitions), 1 + (rng.random() < 0.35), MAX_CONCEPTS)
    names = rng.sample(CONCEPT_NAMES, n)
    chosen = rng.sample(definitions, n)
    concepts = tuple(
        Concept(name, text, intent, slots, ACTIVATIONS[int(rng.random() * len(ACTIVATIONS))])
        for name, (text, intent, slots) in zip(names, chosen, strict=True)
    )
    redefined = {}
    others = [d for d in definitions if d not in chosen]
    if others and rng.random() < cfg.redefine_share:
        old = concepts[0]
        text, intent, slots = others[int(rng.random() * len(others))]
        day = cfg.start.toordinal() + 1 + int(rng.random() * max(1, cfg.days - 1))
        redefined[old.name] = (day, Concept(old.name, text, intent, slots, old.activation))
    return UserConcepts(concepts, redefined)


def activation_text(concept: Concept, rng: random.Random) -> str:
    """How the user asks for a concept: their habitual phrasing, sometimes another one."""
    template = concept.activation if rng.random() < 0.8 else ACTIVATIONS[int(rng.random() * len(ACTIVATIONS))]
    return template.format(concept=concept.name)


def answer_text(concept: Concept, rng: random.Random, phrasing: str) -> str:
    options = ANSWERS[phrasing]
    return options[int(rng.random() * len(options))].format(definition=concept.definition)


def statement_text(concept: Concept, rng: random.Random, phrasing: str) -> str:
    options = STATEMENTS[phrasing]
    return options[int(rng.random() * len(options))].format(concept=concept.name, definition=concept.definition)


# -- the assistant's side ------------------------------------------------------------------------------
def statement(text: str) -> tuple[str, str] | None:
    """(concept, definition) of a customer-initiated teaching the assistant's grammar understands, else None."""
    norm = normalize_text(text)
    for rule in _STATEMENT_RULES:
        m = rule.match(norm)
        if m is not None:
            return m.group("concept"), m.group("definition")
    return None


def answer_value(text: str) -> str:
    """The definition in the user's answer to "what should I do when you say it?" (the answer's filler
    words taken off, as the assistant's teaching dialogue does)."""
    norm = normalize_text(text)
    for rule in _ANSWER_RULES:
        m = rule.match(norm)
        if m is not None:
            return m.group("definition")
    return norm


def asks_about(text: str) -> str | None:
    """The name a request the assistant could not handle asks for by an activation ("turn on study mode",
    "time for study mode" -> "study mode"), for its question "I don't know X yet"; else None. A concept said
    bare ("study mode") is not asked about: any short request it did not understand would be."""
    norm = normalize_text(text)
    for head, tail in _ACTIVATION_PARTS:
        head, tail = head + " " if head else "", " " + tail if tail else ""
        if norm.startswith(head) and norm.endswith(tail) and len(norm) > len(head) + len(tail):
            return norm[len(head) : len(norm) - len(tail)].strip() or None
    return None
