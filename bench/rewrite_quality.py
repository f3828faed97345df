"""Rewrite quality on either world: the simulator's or the real-corpus one, over several world seeds.

    .venv/bin/python bench/rewrite_quality.py --world corpus --corpus ../shared/data --seeds 1 2 3
    .venv/bin/python bench/rewrite_quality.py --world sim --days 15 --users 5000 --seeds 11 --ab-replay

For each seed: simulate the world (or reuse `--raw`, one seed), ingest every day into a DuckDB under the
work folder, build the signals of every day (`defect_signals`, `rephrase_candidates` with the heuristic
score: no rephrase model is trained, so the figures are the miner's own), and for each table day D of
`--judge` (default: the second day to the one before last) mine the table of the window ending at D as
`markov_rewrites` does (the previous table as the deployed one, the window's audit gold as the precision
gate's evidence), then judge it on day D + 1:

- `corpus`: the real-logs judge (`lib/evaluation/rewrite_corpus.py`) on **every** turn of D + 1 (the world's
  `_gold/`), a rewrite's meaning being the corpus' recorded NLU interpretation of its text; and the
  oracle table of the same window (each misheard text → the request most often meant by it) on the same
  turns: the ceiling of an exact-match table;
- `sim`: the simulator's offline judge (`lib/evaluation/rewrite_offline.py`) on D + 1's gold-annotated
  turns, and with `--ab-replay` the counterfactual A/B replay of D + 1 (the same users with and without the
  table, as `rewrite_evaluation` replays it; defect rate on all and on covered traffic, control vs treatment).

Prints one row per (seed, table) and the medians over seeds of the per-seed sums.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from selflearn_assets.lib.evaluation.ab_stats import compare_arms
from selflearn_assets.lib.evaluation.rewrite_corpus import corpus_interpretations, judge_on_world
from selflearn_assets.lib.evaluation.rewrite_offline import judge_turns, offline_win_loss
from selflearn_assets.lib.evaluation.rewrite_replay import replay_counterfactual, save_simulator_config
from selflearn_assets.lib.ingest import ingest_annotations, ingest_turns
from selflearn_assets.lib.markov import MarkovParams, mine_rewrites
from selflearn_assets.lib.rewrites.store import read_window, read_window_evidence
from selflearn_assets.lib.signals import SignalParams, defect_signals, markov_transitions, rephrase_candidates
from selflearn_assets.lib.simulator import SimConfig, simulate
from selflearn_assets.lib.simulator.corpus import CorpusSimConfig, load_corpus, simulate_corpus
from selflearn_assets.lib.simulator.rewrites import write_rewrite_table
from selflearn_assets.lib.sql import query_pl, run_sql

TARGET_WIN_LOSS = 11.8  # AAAI 2020


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", choices=("sim", "corpus"), required=True)
    ap.add_argument("--corpus", type=Path, default=Path("../shared/data"), help="corpus root (--world corpus)")
    ap.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    ap.add_argument("--days", type=int, help="default: 5 (corpus), 15 (sim)")
    ap.add_argument("--users", type=int, help="default: 800 (corpus), 5000 (sim)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--annotation-rate", type=float, help="share of sessions annotated (default: the world's)")
    ap.add_argument("--judge", help="table days to judge, as first..last day indexes (default 1..days-2)")
    ap.add_argument("--raw", type=Path, help="reuse this raw root (one seed)")
    ap.add_argument("--work", type=Path, help="work folder (default: a new temp folder)")
    ap.add_argument(
        "--reuse", action="store_true", help="reuse the work folder's simulated worlds and their signals"
    )
    ap.add_argument("--ab-replay", action="store_true", help="sim: also replay each judged day A/B")
    ap.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="a MarkovParams field, e.g. min_precision=0.9"
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    days_n = args.days or (5 if args.world == "corpus" else 15)
    users = args.users or (800 if args.world == "corpus" else 5000)
    first, last = (int(x) for x in args.judge.split("..")) if args.judge else (1, days_n - 2)
    params = replace(MarkovParams(), **{k: _number(v) for k, v in (s.split("=", 1) for s in args.set)})
    work = args.work or Path(tempfile.mkdtemp(prefix="rewrite_quality_"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus(args.corpus) if args.world == "corpus" else None
    interpretations = corpus_interpretations(corpus) if corpus is not None else None

    results = {"world": args.world, "days": days_n, "users": users, "params": params.as_dict(), "seeds": {}}
    for seed in args.seeds:
        began = time.perf_counter()
        raw = args.raw or work / f"raw-{seed}"
        rate = {"annotation_rate": args.annotation_rate} if args.annotation_rate is not None else {}
        config = (
            CorpusSimConfig(corpus=args.corpus, seed=seed, users=users, start=args.start, days=days_n, **rate)
            if corpus is not None
            else SimConfig(seed=seed, users=users, start=args.start, days=days_n, **rate)
        )
        warehouse = work / f"warehouse-{seed}.duckdb"
        reuse = args.reuse and warehouse.exists() and (raw / "_simulator.json").exists()
        if args.raw is None and not reuse:
            if corpus is not None:
                simulate_corpus(config, raw, progress=False, corpus=corpus)
            else:
                simulate(config, raw, progress=False)
            save_simulator_config(config, raw)
        days = [args.start + timedelta(days=i) for i in range(days_n)]
        if not reuse:
            warehouse.unlink(missing_ok=True)
        con = duckdb.connect(str(warehouse))
        if not reuse:
            build_signals(con, raw, days)
        tables = []
        deployed = None
        for day in days[first : last + 1]:
            rows, window_start = read_window(con, day, params.window_days)
            evidence, locales = read_window_evidence(con, day, params.window_days)
            table, report = mine_rewrites(rows, params, deployed, evidence=evidence, locales=locales)
            deployed = table
            judged_on = day + timedelta(days=1)
            row = {"table_of": day.isoformat(), "rewrites": table.height, "rejected": report["n_rejected_by_reason"]}
            if corpus is not None:
                row.update(judge_on_world(raw, table, judged_on, window_start, interpretations))
            else:
                gold = query_pl(con, "evaluation/gold_turns.sql", {"day": judged_on})
                meanings = query_pl(
                    con, "evaluation/text_interpretations.sql", {"window_start": window_start, "window_end": day}
                )
                row.update(offline_win_loss(judge_turns(gold, table, meanings)).as_dict())
                if args.ab_replay and table.height:
                    path = write_rewrite_table(table.to_dicts(), work / f"table-{seed}-{day}.parquet")
                    turns = replay_counterfactual(config, judged_on, path)  # the same users, once per arm
                    covered = compare_arms(turns.filter(pl.col("covered")), seed=0)
                    overall = compare_arms(turns, seed=0)
                    row["ab"] = {
                        "relative_reduction": overall.relative_reduction,
                        "relative_reduction_covered": covered.relative_reduction,
                        "covered_ci": list(covered.interval),
                    }
            tables.append(row)
            print(_line(seed, row), flush=True)
        con.close()
        results["seeds"][seed] = {"tables": tables, "seconds": time.perf_counter() - began}
    print(_summary(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


def build_signals(con, raw: Path, days: list[date]) -> None:
    run_sql(con, "ingest/schema.sql")
    signal_params = SignalParams()  # no model scorer is passed: the heuristic rephrase score
    for day in days:
        ingest_turns(con, raw, day, "bench-key")
        ingest_annotations(con, raw, day)
    for day in days:
        defect_signals(con, day, signal_params)
        rephrase_candidates(con, day, signal_params)
        markov_transitions(con, day, signal_params)


def _number(text: str):
    return float(text) if "." in text else int(text)


def _ratio(wins: int, losses: int) -> str:
    return f"{wins / losses:.1f}" if losses else ("∞" if wins else "-")


def _line(seed: int, r: dict) -> str:
    out = (
        f"seed {seed} table {r['table_of']}: {r['rewrites']} rewrites, fired {r['fired']}, "
        f"{r['wins']} wins / {r['losses']} losses = {_ratio(r['wins'], r['losses'])}, "
        f"coverage {r['coverage']:.1%}, win coverage {r['win_coverage']:.1%}"
    )
    if "relative_defect_reduction" in r:
        out += f", defect reduction {r['relative_defect_reduction']:.1%}, uninterpretable {r['uninterpretable']}"
    if "oracle" in r:
        o = r["oracle"]
        out += (
            f" | oracle: {o['rewrites']} rewrites, fired {o['fired']}, win coverage {o['win_coverage']:.1%}, "
            f"defect reduction {o['relative_defect_reduction']:.1%}"
        )
    if "ab" in r:
        out += (
            f" | A/B reduction: covered {r['ab']['relative_reduction_covered']:.1%}, "
            f"all traffic {r['ab']['relative_reduction']:.1%}"
        )
    rejected = {k: v for k, v in r["rejected"].items() if v}
    return out + f"\n    rejected sources: {rejected}"


def _summary(results: dict) -> str:
    per_seed = []
    for seed, s in results["seeds"].items():
        t = s["tables"]
        wins, losses = sum(x["wins"] for x in t), sum(x["losses"] for x in t)
        row = {
            "seed": seed,
            "tables": len(t),
            "min_fired": min((x["fired"] for x in t), default=0),
            "wins": wins,
            "losses": losses,
            "win_loss": wins / losses if losses else float("inf") if wins else 0.0,
            "win_coverage": statistics.mean(x["win_coverage"] for x in t) if t else 0.0,
        }
        if t and "relative_defect_reduction" in t[0]:
            row["reduction"] = statistics.mean(x["relative_defect_reduction"] for x in t)
            row["oracle_win_coverage"] = statistics.mean(x["oracle"]["win_coverage"] for x in t)
            row["oracle_reduction"] = statistics.mean(x["oracle"]["relative_defect_reduction"] for x in t)
        if t and "ab" in t[0]:
            row["ab_covered"] = statistics.mean(x["ab"]["relative_reduction_covered"] for x in t if "ab" in x)
            row["ab_all"] = statistics.mean(x["ab"]["relative_reduction"] for x in t if "ab" in x)
        per_seed.append(row)
    lines = ["", f"world {results['world']}: per seed (tables summed; coverage and reduction: mean over tables)"]
    for r in per_seed:
        lines.append("  " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()))
    if per_seed:
        keys = [k for k in per_seed[0] if k not in ("seed",)]
        med = {k: statistics.median(r[k] for r in per_seed) for k in keys}
        lines.append("  median: " + ", ".join(f"{k} {v:.3f}" for k, v in med.items()))
        lines.append("  per table day, median over seeds:")
        n_tables = min(len(s["tables"]) for s in results["seeds"].values())
        for i in range(n_tables):
            tables = [s["tables"][i] for s in results["seeds"].values()]
            wl = [t["wins"] / t["losses"] if t["losses"] else float("inf") if t["wins"] else 0.0 for t in tables]
            line = (
                f"    table {i + 1}: fired {statistics.median(t['fired'] for t in tables):.0f}, "
                f"wins {statistics.median(t['wins'] for t in tables):.0f}, "
                f"losses {statistics.median(t['losses'] for t in tables):.0f}, win/loss {statistics.median(wl):.1f}"
            )
            if "relative_defect_reduction" in tables[0]:
                line += (
                    f", defect reduction {statistics.median(t['relative_defect_reduction'] for t in tables):.1%}"
                    f" (oracle {statistics.median(t['oracle']['relative_defect_reduction'] for t in tables):.1%})"
                )
            lines.append(line)
        lines.append(
            f"  target: every table fires >= 30 times with win/loss >= {TARGET_WIN_LOSS} and a positive reduction"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
