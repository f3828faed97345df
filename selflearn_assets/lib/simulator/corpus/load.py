"""Read a real spoken-language corpus (SLURP, optionally CLINC150) in the sources' own layouts.

`load_corpus(path)` expects, under `path`:

- `slurp/dataset/slurp/test.jsonl` (and `train.jsonl`, `devel.jsonl` when present, so a full clone
  works): one sentence a line, with its reference text, inline-annotated entities
  (`wake me up at [time : five am]`), `scenario`, `action` and the recordings people made of it;
- `slurp/experiments/predictions/multi_slurp_hermit_predictions.jsonl`: per recording `file`, the
  real ASR 1-best `text` and the NLU prediction (`scenario`, `action`, `entities` [{type, filler}])
  made from it;
- `slurp/experiments/predictions/gold_hermit_predictions.jsonl`: the NLU prediction on the reference
  sentence, per `slurp_id`;
- optionally `clinc150/data_full.json`: its out-of-scope queries (`oos_train` + `oos_val`) are the
  background speech of false wakes.

Intents are in the contract's form `scenario.action` (SLURP's own `intent` field is `scenario_action`).
The ASR text is kept as recognised (OOV markers such as `@@UNKNOWN@@` and `< unk >` included) except
that the scorer's tokenised clitics are joined again ("tomorrow 's" -> "tomorrow's"): that split is
an artefact of SLURP's scoring, not something a recogniser says. A recording without a prediction
is skipped; a sentence left with no recording is dropped.

`Corpus.interpret(text)` is what the corpus' NLU understood for a text it has seen: among all
recordings whose ASR text normalises to it, and the reference sentences (their gold-hermit
prediction), the most frequent interpretation. Texts are keyed by
`selflearn_assets.lib.markov.normalize.normalize_utterance`, the platform's own normalisation.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from selflearn_assets.lib.markov.normalize import normalize_utterance

SLURP_SPLITS = ("train.jsonl", "devel.jsonl", "test.jsonl")
ASR_PREDICTIONS = "multi_slurp_hermit_predictions.jsonl"
GOLD_PREDICTIONS = "gold_hermit_predictions.jsonl"
_ENTITY = re.compile(r"\[\s*([^\[\]:]+?)\s*:\s*([^\[\]]*?)\s*\]")
_CLITIC = re.compile(r" '(\w)")


class CorpusError(ValueError):
    """The corpus folder is missing or a file in it cannot be read as the source's format."""


@dataclass(frozen=True)
class Interpretation:
    """What an NLU made of a text: `scenario.action` and slots as (name, value) pairs, in order."""

    intent: str
    slots: tuple[tuple[str, str], ...] = ()

    @property
    def domain(self) -> str:
        return self.intent.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.intent.split(".", 1)[1]

    @property
    def slot_list(self) -> list[dict[str, str]]:
        return [{"name": n, "value": v} for n, v in self.slots]

    def slot_key(self) -> frozenset[tuple[str, str]]:
        """The slots as a set with normalised values: what "the same slots" means."""
        return frozenset((n, normalize_utterance(v)) for n, v in self.slots)

    def same_meaning(self, other: Interpretation | None) -> bool:
        return other is not None and self.intent == other.intent and self.slot_key() == other.slot_key()


@dataclass(frozen=True)
class Recording:
    """One person reading a sentence: the file, what ASR heard, and what NLU made of it."""

    file: str
    asr_text: str
    predicted: Interpretation


@dataclass(frozen=True)
class Sentence:
    slurp_id: str
    text: str
    gold: Interpretation  # the sentence's intent and annotated slots
    recordings: tuple[Recording, ...]
    gold_nlu: Interpretation | None  # the NLU's prediction on the reference text (None if absent)


@dataclass
class Corpus:
    sentences: list[Sentence]
    background: list[str]  # out-of-scope speech for false wakes (may be empty)
    _by_text: dict[str, Counter] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for s in self.sentences:
            if s.gold_nlu is not None:
                self._by_text.setdefault(normalize_utterance(s.text), Counter())[s.gold_nlu] += 1
            for r in s.recordings:
                key = normalize_utterance(r.asr_text)
                if key:
                    self._by_text.setdefault(key, Counter())[r.predicted] += 1

    def interpret(self, text: str) -> Interpretation | None:
        """The most frequent recorded interpretation of `text` (normalised); None if never seen.
        Ties go to the interpretation recorded first."""
        counts = self._by_text.get(normalize_utterance(text))
        return counts.most_common(1)[0][0] if counts else None

    def intents(self) -> list[str]:
        return sorted({s.gold.intent for s in self.sentences})


def parse_annotation(annotation: str) -> list[dict[str, str]]:
    """Slots of SLURP's inline annotation: `wake me up at [time : five am]` -> [{time: five am}]."""
    return [{"name": m.group(1).strip(), "value": m.group(2).strip()} for m in _ENTITY.finditer(annotation)]


def join_clitics(text: str) -> str:
    """Undo the scorer's clitic split: "tomorrow 's meeting" -> "tomorrow's meeting"."""
    return _CLITIC.sub(r"'\1", text)


def load_corpus(path: str | Path) -> Corpus:
    root = Path(path)
    slurp = root / "slurp"
    dataset = slurp / "dataset" / "slurp"
    preds = slurp / "experiments" / "predictions"
    splits = [dataset / name for name in SLURP_SPLITS if (dataset / name).is_file()]
    if not splits:
        raise CorpusError(f"no SLURP corpus under {root}: expected {dataset}/test.jsonl")
    for needed in (preds / ASR_PREDICTIONS, preds / GOLD_PREDICTIONS):
        if not needed.is_file():
            raise CorpusError(f"SLURP predictions missing: {needed}")
    by_file = {row["file"]: _interpretation(row, f, n) | {"text": row["text"]}
               for f, n, row in _rows(preds / ASR_PREDICTIONS, ("file", "text", "scenario", "action"))}  # fmt: skip
    gold_nlu = {str(row["slurp_id"]): _interpretation(row, f, n)["interp"]
                for f, n, row in _rows(preds / GOLD_PREDICTIONS, ("slurp_id", "scenario", "action"))}  # fmt: skip
    sentences = []
    for split in splits:
        for f, n, row in _rows(split, ("slurp_id", "sentence", "scenario", "action", "recordings")):
            sid = str(row["slurp_id"])
            slots = tuple(
                (s["name"], s["value"]) for s in parse_annotation(row.get("sentence_annotation") or "")
            )
            gold = Interpretation(f"{row['scenario']}.{row['action']}", slots)
            recordings = []
            for rec in row["recordings"]:
                if not isinstance(rec, dict) or "file" not in rec:
                    raise CorpusError(f"{f}:{n}: a recording without 'file'")
                pred = by_file.get(rec["file"])
                if pred is None:
                    continue  # no prediction for this recording (2 in SLURP's test set)
                recordings.append(Recording(rec["file"], join_clitics(pred["text"]), pred["interp"]))
            if recordings:
                sentences.append(Sentence(sid, row["sentence"], gold, tuple(recordings), gold_nlu.get(sid)))
    sentences.sort(key=_id_order)
    return Corpus(sentences, _background(root / "clinc150" / "data_full.json"))


def _id_order(s: Sentence) -> tuple:
    return (0, int(s.slurp_id), "") if s.slurp_id.isdigit() else (1, 0, s.slurp_id)


def _rows(path: Path, required: tuple[str, ...]):
    """(path, line number, object) of each non-blank line; a CorpusError names the bad line."""
    with open(path, "rb") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as err:
                raise CorpusError(f"{path}:{n}: not JSON ({err})") from None
            if not isinstance(row, dict):
                raise CorpusError(f"{path}:{n}: expected a JSON object")
            missing = [k for k in required if k not in row]
            if missing:
                raise CorpusError(f"{path}:{n}: missing {', '.join(missing)}")
            yield path, n, row


def _interpretation(row: dict, path: Path, n: int) -> dict:
    try:
        slots = tuple((e["type"], e["filler"]) for e in row.get("entities") or ())
    except (KeyError, TypeError):
        raise CorpusError(f"{path}:{n}: entities must be objects with 'type' and 'filler'") from None
    return {"interp": Interpretation(f"{row['scenario']}.{row['action']}", slots)}


def _background(path: Path) -> list[str]:
    if not path.is_file():
        return []
    try:
        data = orjson.loads(path.read_bytes())
        return [q[0] for split in ("oos_train", "oos_val") for q in data.get(split, [])]
    except (orjson.JSONDecodeError, TypeError, IndexError, AttributeError) as err:
        raise CorpusError(f"{path}: not CLINC150's data_full.json ({err})") from None
