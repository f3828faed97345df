"""Offline win/loss of a rewrite table against the gold annotations of the day after its window.

Over gold-annotated turns whose normalised text is a source of the table (the rewrite would fire):

- the rewrite *expresses the intended request* when its normalised text equals the gold
  `intended_text`, or when every gold slot value occurs in it and its tokens overlap the intended
  text's by at least `min_token_overlap` (Jaccard) — a paraphrase that carries the same entities;
- **win**: a defective turn (gold failure_point != correct) whose rewrite expresses the intent;
- **loss**: a turn that was fine and whose rewrite does not express it (the rewrite changes its
  meaning), or a defective turn rewritten to another wrong request;
- **neutral**: a fine turn whose rewrite still expresses it.

`coverage` is the share of gold-defective turns on which some rewrite fires; `win_coverage` the share
of gold-defective turns that a rewrite fixes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import polars as pl

from selflearn_assets.lib.markov.normalize import normalize_expr, normalize_utterance

MIN_TOKEN_OVERLAP = 0.5


@dataclass(frozen=True)
class OfflineResult:
    gold_turns: int
    gold_defective: int
    fired: int
    wins: int
    losses: int
    neutral: int
    coverage: float
    win_coverage: float

    @property
    def win_loss(self) -> float | None:
        return self.wins / self.losses if self.losses else (float("inf") if self.wins else None)

    def as_dict(self) -> dict:
        return {**asdict(self), "win_loss": self.win_loss}


def expresses(rewrite: str, intended: str | None, slot_values: list[str] | None,
              min_token_overlap: float = MIN_TOKEN_OVERLAP) -> bool:
    """Whether a rewrite carries the user's intended request (see the module docstring)."""
    if intended is None:
        return False
    r, i = normalize_utterance(rewrite), normalize_utterance(intended)
    if r == i:
        return True
    values = [normalize_utterance(v) for v in slot_values or [] if v]
    if not values or not all(f" {v} " in f" {r} " for v in values):
        return False
    rt, it = set(r.split()), set(i.split())
    return len(rt & it) / len(rt | it) >= min_token_overlap if rt | it else False


def judge_turns(gold: pl.DataFrame, rewrites: pl.DataFrame) -> pl.DataFrame:
    """Per gold turn: whether a rewrite fires and its outcome (win / loss / neutral / None).

    `gold`: event_id, asr_text, failure_point, intended_text, slot_values (list[str]);
    `rewrites`: source_text, rewrite_text (normalised source texts)."""
    table = rewrites.select("source_text", "rewrite_text")
    joined = gold.with_columns(source_text=normalize_expr("asr_text")).join(table, on="source_text", how="left")
    outcomes = []
    for row in joined.iter_rows(named=True):
        if row["rewrite_text"] is None:
            outcomes.append(None)
            continue
        ok = expresses(row["rewrite_text"], row["intended_text"], row["slot_values"])
        defective = row["failure_point"] != "correct"
        outcomes.append("win" if defective and ok else "neutral" if ok else "loss")
    return joined.with_columns(outcome=pl.Series(outcomes, dtype=pl.Utf8))


def offline_win_loss(judged: pl.DataFrame) -> OfflineResult:
    defective = judged.filter(pl.col("failure_point") != "correct")
    fired = judged.filter(pl.col("outcome").is_not_null())
    count = {o: fired.filter(pl.col("outcome") == o).height for o in ("win", "loss", "neutral")}
    fired_defective = defective.filter(pl.col("outcome").is_not_null()).height
    return OfflineResult(
        gold_turns=judged.height,
        gold_defective=defective.height,
        fired=fired.height,
        wins=count["win"],
        losses=count["loss"],
        neutral=count["neutral"],
        coverage=fired_defective / defective.height if defective.height else 0.0,
        win_coverage=count["win"] / defective.height if defective.height else 0.0,
    )
