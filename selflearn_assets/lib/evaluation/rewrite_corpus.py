"""The judge for real logs: a rewrite table on a day of a corpus world, with the oracle ceiling.

In a corpus world every request is a real sentence heard as a real ASR hypothesis and understood as a
real NLU prediction, and the corpus holds the NLU's recorded interpretation of every text it contains
(each recording's ASR text and each reference sentence). A rewrite's meaning is that interpretation of
the rewrite text. Over the turns of the judged day whose normalised text is a source of the table (the
rewrite would fire):

- the rewrite is **right** for a turn when its text is the turn's gold intended text (normalised), or
  when the corpus interprets it with the turn's gold intent and exactly the gold slot values (the
  NLU gets only about two thirds of the reference sentences fully right, so the reference text
  counts on its own);
- **win**: a defective turn (gold failure point != correct) whose rewrite is right;
- **loss**: a turn whose rewrite is not right, defective or not; a rewrite text the corpus cannot
  interpret (and that is not the intended text) is a loss, counted also as `uninterpretable`;
- **neutral**: a good turn whose rewrite is right.

Per table: fired, wins, losses, neutral, win/loss, `coverage` (share of defective turns on which a
rewrite fires), `win_coverage` (share that a rewrite fixes) and the `relative_defect_reduction`
(wins fix a defective turn, losses on good turns break one: (wins − good-turn losses) / defective).

The **oracle** table of a window maps each text said on the window's gold turns to the intended text it
most often stood for, where that differs from the text itself (a misheard text); judged the same way on
the same day, it is the ceiling of an exact-match table mined from that window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import polars as pl

from selflearn_assets.lib.evaluation.world_gold import read_world_gold
from selflearn_assets.lib.markov.normalize import normalize_expr, normalize_utterance
from selflearn_assets.lib.markov.precision import expresses_request


@dataclass(frozen=True)
class CorpusJudgement:
    turns: int
    defective: int
    fired: int
    wins: int
    losses: int
    neutral: int
    uninterpretable: int
    coverage: float
    win_coverage: float
    relative_defect_reduction: float

    @property
    def win_loss(self) -> float | None:
        return self.wins / self.losses if self.losses else None

    def as_dict(self) -> dict:
        return {**asdict(self), "win_loss": self.win_loss}


def judge_corpus_turns(gold: pl.DataFrame, rewrites: pl.DataFrame, interpretations: pl.DataFrame) -> pl.DataFrame:
    """Per turn of the judged day: the rewrite that fires (if any) and its outcome (win/loss/neutral/null).

    `gold`: event_id, asr_text, failure_point, intended_text, gold_intent, gold_slots (every turn of the
    day; "name=value;..." keys, lowercased and sorted); `rewrites`: source_text, rewrite_text;
    `interpretations`: norm_text, intent, slots (what the corpus' NLU made of each text it holds)."""
    meaning = interpretations.select(
        pl.col("norm_text").alias("rewrite_text"),
        pl.col("intent").alias("rewrite_intent"),
        pl.col("slots").fill_null("").alias("rewrite_slots"),
    ).unique("rewrite_text", keep="first")
    judged = (
        gold.with_columns(source_text=normalize_expr("asr_text"))
        .join(
            rewrites.select("source_text", "rewrite_text").unique("source_text", keep="first"),
            on="source_text",
            how="left",
        )
        .join(meaning, on="rewrite_text", how="left")
    )
    by_text = (pl.col("rewrite_text") == normalize_expr("intended_text")).fill_null(False)
    right = expresses_request(
        pl.col("rewrite_text"),
        normalize_expr("intended_text"),
        pl.col("rewrite_intent"),
        pl.col("gold_intent"),
        pl.col("rewrite_slots"),
        pl.col("gold_slots").fill_null(""),
    )
    defective = pl.col("failure_point") != "correct"
    outcome = (
        pl.when(pl.col("rewrite_text").is_null())
        .then(None)
        .when(right & defective)
        .then(pl.lit("win"))
        .when(right)
        .then(pl.lit("neutral"))
        .otherwise(pl.lit("loss"))
    )
    uninterpretable = pl.col("rewrite_text").is_not_null() & pl.col("rewrite_intent").is_null() & ~by_text
    return judged.with_columns(right=right, outcome=outcome, uninterpretable=uninterpretable)


def summarise(judged: pl.DataFrame) -> CorpusJudgement:
    defective = judged.filter(pl.col("failure_point") != "correct")
    fired = judged.filter(pl.col("outcome").is_not_null())
    count = {o: fired.filter(pl.col("outcome") == o).height for o in ("win", "loss", "neutral")}
    good_losses = fired.filter((pl.col("outcome") == "loss") & (pl.col("failure_point") == "correct")).height
    n_def = defective.height
    return CorpusJudgement(
        turns=judged.height,
        defective=n_def,
        fired=fired.height,
        wins=count["win"],
        losses=count["loss"],
        neutral=count["neutral"],
        uninterpretable=fired.filter(pl.col("uninterpretable") & (pl.col("outcome") == "loss")).height,
        coverage=defective.filter(pl.col("outcome").is_not_null()).height / n_def if n_def else 0.0,
        win_coverage=count["win"] / n_def if n_def else 0.0,
        relative_defect_reduction=(count["win"] - good_losses) / n_def if n_def else 0.0,
    )


def judge_on_world(
    raw_root: str | Path, table: pl.DataFrame, judged_day: date, window_start: date, interpretations: pl.DataFrame
) -> dict:
    """The table (source_text, rewrite_text) judged on every turn of `judged_day` of a world with
    evaluation gold (`world_gold.py`), and the oracle table of the window [window_start, judged_day − 1]
    judged on the same turns (under "oracle")."""
    gold = read_world_gold(raw_root, judged_day)
    judged = summarise(judge_corpus_turns(gold, table, interpretations))
    window_gold = pl.concat(
        [read_world_gold(raw_root, window_start + timedelta(days=i)) for i in range((judged_day - window_start).days)]
    )
    oracle = oracle_table(window_gold)
    ceiling = summarise(judge_corpus_turns(gold, oracle, interpretations))
    return {**judged.as_dict(), "oracle": {"rewrites": oracle.height, **ceiling.as_dict()}}


@lru_cache(maxsize=2)
def interpretations_of_corpus(path: str) -> pl.DataFrame:
    """`corpus_interpretations` of the corpus at `path` (loaded once per process)."""
    from selflearn_assets.lib.simulator.corpus import load_corpus

    return corpus_interpretations(load_corpus(path))


def corpus_interpretations(corpus) -> pl.DataFrame:
    """norm_text, intent, slots ("name=value;..." as `world_gold.slot_key`) of every text the corpus holds
    an NLU output for (each recording's ASR text and each reference sentence), by `corpus.interpret`."""
    texts = {normalize_utterance(s.text) for s in corpus.sentences}
    texts |= {normalize_utterance(r.asr_text) for s in corpus.sentences for r in s.recordings}
    rows = []
    for text in sorted(t for t in texts if t):
        meaning = corpus.interpret(text)
        if meaning is not None:
            slots = ";".join(sorted(f"{n.lower()}={v}" for n, v in meaning.slot_key()))
            rows.append((text, meaning.intent, slots))
    return pl.DataFrame(rows, schema={"norm_text": pl.String, "intent": pl.String, "slots": pl.String}, orient="row")


def oracle_table(window_gold: pl.DataFrame) -> pl.DataFrame:
    """source_text → rewrite_text: each misheard normalised text of the window's gold turns (`asr_text`,
    `intended_text`) to the intended text it most often stood for (ties: text order)."""
    pairs = window_gold.select(
        normalize_expr("asr_text").alias("source_text"), normalize_expr("intended_text").alias("rewrite_text")
    ).filter((pl.col("source_text") != "") & (pl.col("rewrite_text") != ""))
    return (
        pairs.group_by("source_text", "rewrite_text")
        .len()
        .sort(["source_text", "len", "rewrite_text"], descending=[False, True, False])
        .unique("source_text", keep="first", maintain_order=True)
        .filter(pl.col("source_text") != pl.col("rewrite_text"))  # most often meant as said: no rewrite
        .drop("len")
    )
