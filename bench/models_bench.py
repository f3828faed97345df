"""Label-generation model on a simulated day: embedding, training and evaluation times, and quality.

    python bench/models_bench.py                               # 1000 users, all-MiniLM-L6-v2, 30 epochs
    python bench/models_bench.py --users 150 --epochs 5        # a quick run
    python bench/models_bench.py --tiny                        # random tiny encoder (no pretrained weights)

Simulates `--days` days (annotation rate `--annotation-rate`), trains on all but the last day and evaluates
on the last (with one day, it evaluates on the training day and says so). Reported: turns, distinct texts
and embedding time (frozen encoder, cached per text), training time and epochs, the contextual model's
and the single annotator's accuracy against gold per task, % of human, and the per-turn MLP baseline's
intent and slot accuracy. Simulation and ingestion are not timed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selflearn_assets.lib.ingest import ingest_annotations, ingest_turns  # noqa: E402
from selflearn_assets.lib.models.encoder import TurnEmbedder, load_encoder, tiny_encoder  # noqa: E402
from selflearn_assets.lib.models.label_data import load_label_frames  # noqa: E402
from selflearn_assets.lib.models.label_eval import evaluate_against_gold  # noqa: E402
from selflearn_assets.lib.models.label_model import LabelModelConfig, train_label_model  # noqa: E402
from selflearn_assets.lib.simulator import SimConfig, simulate  # noqa: E402
from selflearn_assets.lib.sql import run_sql  # noqa: E402

START = date(2026, 1, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--annotation-rate", type=float, default=0.3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--tiny", action="store_true", help="random tiny encoder instead of the pretrained one"
    )
    parser.add_argument(
        "--encoder", default=None, help="local Hugging Face directory (default: see load_encoder)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        simulate(
            SimConfig(users=args.users, days=args.days, start=START, annotation_rate=args.annotation_rate),
            tmp,
            progress=False,
        )
        con = duckdb.connect()
        run_sql(con, "ingest/schema.sql")
        days = [START + timedelta(days=i) for i in range(args.days)]
        for day in days:
            ingest_turns(con, tmp, day, "bench-key")
            ingest_annotations(con, tmp, day)
        train_days, eval_days = (days[:-1], days[-1:]) if len(days) > 1 else (days, days)
        train = load_label_frames(con, train_days)
        test = load_label_frames(con, eval_days)

    if args.tiny:
        tokenizer, encoder = tiny_encoder(
            pl.concat([train, test])["utterance"].to_list() + train["response"].to_list()
        )
    else:
        tokenizer, encoder = load_encoder(args.encoder)
    embedder = TurnEmbedder(tokenizer, encoder)
    t = time.perf_counter()
    texts = pl.concat([train["utterance"], train["response"], test["utterance"], test["response"]]).to_list()
    embedder(texts, progress=True)
    embed_s = time.perf_counter() - t

    config = LabelModelConfig(epochs=args.epochs)
    t = time.perf_counter()
    model, history, train_metrics = train_label_model(train, config, embedder, progress=True)
    train_s = time.perf_counter() - t
    baseline_config = LabelModelConfig(epochs=args.epochs, contextual=False, pretrain_epochs=0)
    t = time.perf_counter()
    baseline, _, _ = train_label_model(train, baseline_config, embedder, progress=False)
    baseline_s = time.perf_counter() - t
    t = time.perf_counter()
    metrics = evaluate_against_gold(model, test, embedder, baseline=baseline)
    eval_s = time.perf_counter() - t

    report = {
        "encoder": "tiny (random)" if args.tiny else encoder.config.name_or_path,
        "train_turns": train.height,
        "eval_turns": test.height,
        "evaluated_on_training_day": len(days) == 1,
        "distinct_texts": len(embedder.cache),
        "embed_s": round(embed_s, 2),
        "train_s": round(train_s, 2),
        "baseline_train_s": round(baseline_s, 2),
        "eval_s": round(eval_s, 2),
        "epochs_run": len(history),
        **{k: round(v, 4) for k, v in train_metrics.items()},
        **{k: round(v, 4) for k, v in metrics.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
