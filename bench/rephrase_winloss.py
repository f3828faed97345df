"""Rewrite win/loss with and without the rephrase detector's score, on the same simulated world.

    .venv/bin/python bench/rephrase_winloss.py --days 3 --users 2000 --seed 7 --start 2026-01-01

Simulates the world (or reuses `--raw`), ingests every day into a DuckDB under a temp folder, trains the ContReph
detector on all days (as `selflearn run` does: models train after ingestion, before signals) with MLflow in
that folder, then runs the signals -> Markov -> offline evaluation chain through the lib functions once per
variant (`heuristic`: no model, today's behaviour; `model`: `model_score` from the champion; `blend`:
score = mean of the two), on the same data:

- per day: defect_signals, rephrase_candidates (the variant's scorer and weight), markov_transitions;
- per day D but the last: the rewrite table of the window ending at D (the previous table as the deployed
  one, as `markov_rewrites` does), judged on D + 1's gold as the `rewrite_evaluation` asset does offline.

Prints the gold rephrase P/R/F1 of each variant's `score` and the win/loss table per variant.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from selflearn_assets.lib.evaluation.rewrite_offline import judge_turns, offline_win_loss
from selflearn_assets.lib.ingest import ingest_annotations, ingest_turns
from selflearn_assets.lib.markov import MarkovParams, mine_rewrites
from selflearn_assets.lib.models.audit import holdout_expr
from selflearn_assets.lib.models.encoder import TurnEmbedder, load_encoder
from selflearn_assets.lib.models.rephrase_data import load_rephrase_turns
from selflearn_assets.lib.models.rephrase_model import RephraseConfig
from selflearn_assets.lib.models.rephrase_training import champion_scorer, train_and_track
from selflearn_assets.lib.rewrites.store import read_window
from selflearn_assets.lib.signals import SignalParams, defect_signals, markov_transitions, rephrase_candidates
from selflearn_assets.lib.simulator import SimConfig, simulate
from selflearn_assets.lib.sql import query_pl, run_sql

VARIANTS = {"heuristic": None, "model": 1.0, "blend": 0.5}  # name -> rephrase_model_weight (None: no model)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2026, 1, 1))
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--raw", type=Path, help="reuse simulated raw logs (default: simulate into the work folder)"
    )
    ap.add_argument("--work", type=Path, help="work folder (default: a new temp folder)")
    ap.add_argument("--min-support", type=int, default=MarkovParams().min_support_transitions)
    ap.add_argument("--min-users", type=int, default=MarkovParams().min_users)
    ap.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma-separated subset of " + ",".join(VARIANTS)
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="rephrase_winloss_"))
    work.mkdir(parents=True, exist_ok=True)
    raw = args.raw or work / "raw"
    days = [args.start + timedelta(days=i) for i in range(args.days)]
    if args.raw is None:
        simulate(
            SimConfig(seed=args.seed, users=args.users, start=args.start, days=args.days), raw, progress=False
        )
    con = duckdb.connect(str(work / "warehouse.duckdb"))
    run_sql(con, "ingest/schema.sql")
    began = time.perf_counter()
    for day in days:
        ingest_turns(con, raw, day, "bench-key")
        ingest_annotations(con, raw, day)
    print(f"[bench] {work}: ingested {len(days)} days in {time.perf_counter() - began:.1f}s", flush=True)

    embedder = TurnEmbedder(*load_encoder())
    began = time.perf_counter()
    summary = train_and_track(
        load_rephrase_turns(con, days),
        embedder,
        RephraseConfig(),
        work,
        {"dagster.asset": "bench"},
        progress=False,
    )
    train_s = time.perf_counter() - began
    detector, pairwise = summary["report"]["detector"], summary["report"]["pairwise"]
    print(
        f"[bench] rephrase_model trained in {train_s:.0f}s ({summary['epochs_run']} of at most {summary['epochs']} epochs); vs {summary['eval_gold_pairs']}"
        f" gold pairs: ContReph P/R/F1 {_prf(detector)}, pairwise baseline {_prf(pairwise)}",
        flush=True,
    )
    scorer, champion = champion_scorer(work, con, embedder)
    markov = dataclasses.replace(
        MarkovParams(), min_support_transitions=args.min_support, min_users=args.min_users
    )

    results = {"train_seconds": train_s, "detector": detector, "pairwise": pairwise, "variants": {}}
    for name in args.variants.split(","):
        weight = VARIANTS[name]
        params = SignalParams(rephrase_model_weight=weight if weight is not None else 1.0)
        began = time.perf_counter()
        results["variants"][name] = run_variant(
            con, days, params, scorer if weight is not None else None, markov
        )
        print(f"[bench] variant {name}: {time.perf_counter() - began:.0f}s", flush=True)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    con.close()
    return 0


def run_variant(con, days: list[date], params: SignalParams, scorer, markov: MarkovParams) -> dict:
    """Signals for every day, then each window's table judged on the next day's gold (every gold turn, and the
    audit-holdout turns only: the detector trained on the other sessions' gold rephrase_of)."""
    pairs = []
    for day in days:
        defect_signals(con, day, params)
        rephrase_candidates(con, day, params, model_scorer=scorer)
        markov_transitions(con, day, params)
        pairs.append(
            query_pl(con, "signals/rephrase_gold.sql", {"day": day}).join(
                sessions(con, day), left_on="second_event_id", right_on="event_id"
            )
        )
    tables, deployed = [], None
    for day in days[:-1]:
        rows, window_start = read_window(con, day, markov.window_days)
        table, _ = mine_rewrites(rows, markov, deployed)
        deployed = table
        judged_on = day + timedelta(days=1)
        gold = query_pl(con, "evaluation/gold_turns.sql", {"day": judged_on}).join(
            sessions(con, judged_on), on="event_id"
        )
        meanings = query_pl(
            con, "evaluation/text_interpretations.sql", {"window_start": window_start, "window_end": day}
        )
        judged = judge_turns(gold, table, meanings)
        held = offline_win_loss(judged.filter(pl.col("holdout")))
        tables.append({"table_of": day, "rewrites": table.height, **offline_win_loss(judged).as_dict(),
                       "holdout_wins": held.wins, "holdout_losses": held.losses})  # fmt: skip
    return {"rephrase_gold": rephrase_prf(pl.concat(pairs).filter(pl.col("holdout")), params.rephrase_threshold),
            "tables": tables}  # fmt: skip


def sessions(con, day: date) -> pl.DataFrame:
    """event_id -> whether its session is in the audit holdout, for one day."""
    turns = con.sql(
        "SELECT event_id, session_id FROM ingest.clean_turns WHERE day = $day", params={"day": day}
    ).pl()
    return turns.select("event_id", holdout=holdout_expr())


def rephrase_prf(gold: pl.DataFrame, threshold: float) -> dict:
    """P/R/F1 of `score >= threshold` against gold rephrase_of (rows of signals/rephrase_gold.sql)."""
    n_gold = gold.unique("second_event_id").filter(pl.col("rephrase_of").is_not_null()).height
    predicted = gold.filter(pl.col("score") >= threshold)
    tp = predicted.filter(pl.col("first_event_id") == pl.col("rephrase_of")).height
    p = tp / predicted.height if predicted.height else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "true_positives": tp, "predicted": predicted.height, "gold_rephrases": n_gold}  # fmt: skip


def report(results: dict) -> None:
    print("\nrephrase pairs (score >= 0.5) vs gold rephrase_of of the audit-holdout sessions of every day:")
    print("| variant | precision | recall | F1 | true positives / predicted / gold |")
    print("|---|---|---|---|---|")
    for name, v in results["variants"].items():
        g = v["rephrase_gold"]
        print(f"| {name} | {g['precision']:.3f} | {g['recall']:.3f} | {g['f1']:.3f} | "
              f"{g['true_positives']} / {g['predicted']} / {g['gold_rephrases']} |")  # fmt: skip
    print("\noffline rewrite win/loss (table of D judged on D+1's gold):")
    print(
        "| variant | table of | rewrites | wins | losses | win/loss | coverage | win coverage | holdout wins/losses |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, v in results["variants"].items():
        for t in v["tables"]:
            print(f"| {name} | {t['table_of']} | {t['rewrites']} | {t['wins']} | {t['losses']} | "
                  f"{_ratio(t['wins'], t['losses'])} | {t['coverage']:.1%} | {t['win_coverage']:.1%} | "
                  f"{t['holdout_wins']} / {t['holdout_losses']} |")  # fmt: skip
        wins, losses = sum(t["wins"] for t in v["tables"]), sum(t["losses"] for t in v["tables"])
        hw, hl = sum(t["holdout_wins"] for t in v["tables"]), sum(t["holdout_losses"] for t in v["tables"])
        print(f"| {name} | **all** | {sum(t['rewrites'] for t in v['tables'])} | {wins} | {losses} | "
              f"{_ratio(wins, losses)} | | | {hw} / {hl} |")  # fmt: skip


def _ratio(wins: int, losses: int) -> str:
    return f"{wins / losses:.1f}" if losses else "∞"


def _prf(r: dict) -> str:
    return f"{r['precision']:.3f}/{r['recall']:.3f}/{r['f1']:.3f}"


if __name__ == "__main__":
    sys.exit(main())
