"""Models on a simulated day: inference throughput as a ratio to the bare encoder, and training time.

    python bench/models_bench.py                                  # 2,000 users, all-MiniLM-L6-v2, 3 repeats
    python bench/models_bench.py --users 300 --epochs 2 --repeats 1 --infer-sessions 100   # a quick run
    python bench/models_bench.py --tiny                           # random tiny encoder: a smoke test only

What is measured, per model, on the same turns (a seeded sample of `--infer-sessions` whole sessions of the day):

- **bare encoder**: the frozen encoder's forward pass (`TurnEmbedder`, fresh cache) over the texts that model
  embeds for those turns, called as the model calls it: label model, the utterances then the responses;
  ContReph, the utterances of the turns and their followers (sentence embeddings; it reads word pieces of the
  responses through the encoder's input embedding table only); pairwise rephrase baseline, the two utterances of
  every (turn, follower) pair; failure-point model, request, response and the next two requests and responses.
  The cache deduplicates texts, as it does inside the model. (These text lists mirror the models' code: keep
  them in step when a model changes what it embeds.)
- **model inference**: everything from the turns frame (as the model's loader returns it from DuckDB) to labels:
  embedding, features, forward pass and decoding (`predict_turn_labels`, `build_examples` + `predict_spans` /
  `predict_pairwise`, `predict_failure_points`).
- **cold**: a fresh `TurnEmbedder` (empty cache) for each timed pass, the case of a new day; these are the
  headline figures. **warm**: the same inference again with the cache filled (the model's own cost).
- **ratio** = model throughput / encoder throughput (cold) = encoder seconds / model seconds; target >= 0.7.
  Each repeat times the encoder and the model back to back; medians over `--repeats`.
- **seconds**: CPU seconds of this process (`time.process_time`, all its threads) with one torch thread by
  default, so that other jobs on a shared machine slow the wall clock but not the figures; turns/s are turns per
  CPU second. Wall-clock figures are printed beside them.
- **training** (one run each, cold cache, the model's config defaults, which are the asset's run config, early
  stopping deciding the epochs):
  *fit*, the model's training function (`train_label_model`, `train_rephrase_detector`,
  `train_pairwise_baseline`, `train_failure_point_model`) on every turn of the day, in seconds per 10,000 turns;
  *asset run*, the asset's tracked run (`train_and_track`: split on the audit holdout, the model and its baseline
  or variant, evaluation against gold, MLflow logging and registration in a temporary store), in seconds per
  10,000 of its training turns. The encoder's share of each is shown.

Simulation, ingestion and reading the turns from DuckDB are not timed. Each model runs in a `try`: a model whose
library code is being changed shows its error in the table instead of stopping the others.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selflearn_assets.lib.ingest import ingest_annotations, ingest_turns  # noqa: E402
from selflearn_assets.lib.lake import Lake  # noqa: E402
from selflearn_assets.lib.models.encoder import TurnEmbedder, load_encoder, tiny_encoder  # noqa: E402
from selflearn_assets.lib.simulator import SimConfig, simulate  # noqa: E402
from selflearn_assets.lib.sql import run_sql  # noqa: E402

DAY = date(2026, 1, 1)


class Clock:
    """Wall and CPU seconds (this process, all its threads) of a `with` block."""

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self._wall, time.process_time() - self._cpu


class TimedEmbedder(TurnEmbedder):
    """A TurnEmbedder that adds up the wall and CPU seconds spent in its calls (the encoder's share of a model)."""

    def __init__(self, tokenizer, model) -> None:
        super().__init__(tokenizer, model)
        self.wall = self.cpu = 0.0

    def __call__(self, texts, progress: bool = False):
        with Clock() as clock:
            out = super().__call__(texts, progress)
        self.wall, self.cpu = self.wall + clock.wall, self.cpu + clock.cpu
        return out


@dataclass
class Subject:
    """One model: how to load its turns, which encoder calls it makes, how to fit it and label turns, and
    (optionally) the asset's tracked training run."""

    name: str
    load: Callable[[duckdb.DuckDBPyConnection], pl.DataFrame]
    texts: Callable[[pl.DataFrame], list[list[str]]]  # the encoder calls the model makes, in order
    fit: Callable[[pl.DataFrame, TimedEmbedder], tuple[object, dict]]  # -> (model, {"epochs": ..., ...})
    predict: Callable[[object, pl.DataFrame, TimedEmbedder], object]
    tracked: Callable[[pl.DataFrame, TimedEmbedder, Path], dict] | None = None  # -> train_and_track's summary


def with_epochs(config, epochs: int | None):
    """The model's config (its defaults are the asset's run config) with `--epochs`, when given."""
    return replace(config, epochs=epochs) if epochs else config


TAGS = {"dagster.run_id": "bench", "dagster.partition": "unpartitioned"}


# --------------------------------------------------------------------------------------------- subjects


def label_model_subjects(args) -> list[Subject]:
    from selflearn_assets.lib.models import label_training
    from selflearn_assets.lib.models.label_data import load_label_frames
    from selflearn_assets.lib.models.label_eval import predict_turn_labels
    from selflearn_assets.lib.models.label_model import LabelModelConfig, train_label_model

    config = with_epochs(LabelModelConfig(), args.epochs)

    def fit(frames, embedder):
        model, _, fit = train_label_model(frames, config, embedder, progress=False)
        # the supervised epochs, as Dagster and MLflow report them (the history also holds the pretraining's)
        return model, {"epochs": int(fit["epochs_run"]), "pretrain_epochs": int(fit["pretrain_epochs_run"])}

    def tracked(frames, embedder, home):
        return label_training.train_and_track(frames, embedder, config, home=home, tags=TAGS, progress=False)

    return [
        Subject(
            "label model (contextual)",
            load=lambda con: load_label_frames(con, [DAY]),
            texts=lambda f: [f["utterance"].to_list(), f["response"].to_list()],  # as label_features.encode
            fit=fit,
            predict=predict_turn_labels,
            tracked=tracked,
        )
    ]


def rephrase_subjects(args) -> list[Subject]:
    from selflearn_assets.lib.models import rephrase_model as rd
    from selflearn_assets.lib.models import rephrase_training
    from selflearn_assets.lib.models.rephrase_data import build_examples, load_rephrase_turns

    config = with_epochs(rd.RephraseConfig(), args.epochs)

    def utterances(frames):  # as SequenceEncoder.encode: the sentence embeddings of the turns' utterances
        examples = build_examples(frames, config.window)
        return [list(dict.fromkeys(t for ex in examples for t in (ex.utterance, *ex.follower_utterances)))]

    def pairs(frames):  # as predict_pairwise: the two utterances of every (turn, follower) pair
        examples = [ex for ex in build_examples(frames, config.window) if ex.followers]
        first = [ex.utterance for ex in examples for _ in ex.followers]
        return [first, [u for ex in examples for u in ex.follower_utterances]]

    def fitted(train):
        def fit(frames, embedder):
            model, history, _ = train(frames, embedder, config, progress=False)
            return model, {"epochs": len(history)}

        return fit

    def tracked(frames, embedder, home):  # ContReph and the pairwise baseline, as the rephrase_model asset
        return rephrase_training.train_and_track(
            frames, embedder, config, home=home, tags=TAGS, progress=False
        )

    def load(con):
        return load_rephrase_turns(con, [DAY])

    return [
        Subject(
            "rephrase detector (ContReph)",
            load=load,
            texts=utterances,
            fit=fitted(rd.train_rephrase_detector),
            predict=lambda m, f, e: rd.predict_spans(m, e, build_examples(f, m.config.window)),
            tracked=tracked,
        ),
        Subject(
            "rephrase pairwise baseline",
            load=load,
            texts=pairs,
            fit=fitted(rd.train_pairwise_baseline),
            predict=lambda m, f, e: rd.predict_pairwise(m, e, build_examples(f, m.config.window)),
        ),
    ]


def failure_point_subjects(args) -> list[Subject]:
    from selflearn_assets.lib.models import failure_point_training
    from selflearn_assets.lib.models.failure_point_data import load_failure_point_frames
    from selflearn_assets.lib.models.failure_point_features import TEXT_SLOTS
    from selflearn_assets.lib.models.failure_point_model import (
        FailurePointConfig,
        predict_failure_points,
        train_failure_point_model,
    )

    config = with_epochs(FailurePointConfig(), args.epochs)

    def fit(frames, embedder):
        model, history, fit = train_failure_point_model(frames, config, embedder, progress=False)
        return model, {"epochs": len(history), "labelled_turns": int(fit["n_train_turns"])}

    def tracked(
        frames, embedder, home
    ):  # both variants (gold only, gold + weak), as the failure_point_model asset
        return failure_point_training.train_and_track(
            frames, embedder, config, home=home, tags=TAGS, progress=False
        )

    return [
        Subject(
            "failure-point model",
            load=lambda con: load_failure_point_frames(con, [DAY]),
            texts=lambda f: [[t for s in TEXT_SLOTS for t in f[s].fill_null("").to_list()]],  # as its encode
            fit=fit,
            predict=predict_failure_points,
            tracked=tracked,
        )
    ]


# ---------------------------------------------------------------------------------------------- timing


def bench_inference(subject: Subject, model, sample: pl.DataFrame, fresh, repeats: int) -> dict:
    """Bare encoder vs model inference (cold, then warm) on `sample`, `repeats` times back to back."""
    runs: dict[str, list[float]] = {
        k: [] for k in ("encoder", "cold", "warm", "encoder_wall", "cold_wall", "share")
    }
    for _ in range(repeats):
        encoder = fresh()
        with Clock() as bare:
            for texts in subject.texts(sample):
                encoder(texts)
        embedder = fresh()
        with Clock() as cold:
            subject.predict(model, sample, embedder)
        with Clock() as warm:
            subject.predict(model, sample, embedder)  # cache filled: the model's own cost
        for key, value in (("encoder", bare.cpu), ("cold", cold.cpu), ("warm", warm.cpu)):
            runs[key].append(value)
        runs["encoder_wall"].append(bare.wall)
        runs["cold_wall"].append(cold.wall)
        runs["share"].append(embedder.cpu / cold.cpu)
    n = sample.height
    ratios = [e / c for e, c in zip(runs["encoder"], runs["cold"], strict=True)]
    wall_ratios = [e / c for e, c in zip(runs["encoder_wall"], runs["cold_wall"], strict=True)]
    return {
        "turns": n,
        "distinct_texts": len({t for texts in subject.texts(sample) for t in texts}),
        "encoder_tps": n / statistics.median(runs["encoder"]),
        "cold_tps": n / statistics.median(runs["cold"]),
        "warm_tps": n / statistics.median(runs["warm"]),
        "ratio": statistics.median(ratios),
        "ratio_runs": [round(r, 3) for r in ratios],
        "ratio_wall": statistics.median(wall_ratios),
        "ratio_wall_runs": [round(r, 3) for r in wall_ratios],
        "encoder_share_cold": statistics.median(runs["share"]),
    }


def bench_subject(subject: Subject, con, sessions: pl.Series, fresh, repeats: int, home: Path) -> dict:
    frames = subject.load(con)
    row: dict = {"model": subject.name, "fit_turns": frames.height}
    embedder = fresh()
    with Clock() as clock:
        model, info = subject.fit(frames, embedder)
    per_10k = 10_000 / max(frames.height, 1)
    row |= info | {
        "fit_cpu_s_per_10k": clock.cpu * per_10k,
        "fit_wall_s_per_10k": clock.wall * per_10k,
        "fit_encoder_share": embedder.cpu / clock.cpu,
    }
    sample = frames.filter(pl.col("session_id").is_in(sessions.implode()))
    row |= bench_inference(subject, model, sample, fresh, repeats)
    if subject.tracked is not None:
        try:
            from mlflow.tracking import MlflowClient

            from selflearn_assets.lib.models import tracking

            store = home / subject.name.split()[0]
            tracking.configure(store)  # the store exists before the timed run, as for every run but the first
            embedder = fresh()
            with Clock() as clock:
                summary = subject.tracked(frames, embedder, store)
            train_turns = int(MlflowClient().get_run(summary["run_id"]).data.params["train_turns"])
            row |= {
                "asset_train_turns": train_turns,
                "asset_cpu_s_per_10k": clock.cpu * 10_000 / train_turns,
                "asset_wall_s_per_10k": clock.wall * 10_000 / train_turns,
                "asset_encoder_share": embedder.cpu / clock.cpu,
            }
        except Exception as err:  # the tracked run's code is someone's work in progress
            traceback.print_exc()
            row["asset_error"] = f"{type(err).__name__}: {err}"[:160]
    return row


def _tables(rows: list[dict]) -> str:
    inference = ["| model | turns | distinct texts | encoder turns/s | model turns/s (cold) | ratio (CPU) | ratio (wall) "
                 "| model turns/s (warm) |", "|" + "---|" * 8]  # fmt: skip
    training = ["| model | turns | CPU s / 10k turns (wall) | of which encoder | epochs | asset run: train turns "
                "| CPU s / 10k train turns (wall) | of which encoder |", "|" + "---|" * 8]  # fmt: skip
    for r in rows:
        if "error" in r:
            inference.append(f"| {r['model']} | not measured: {r['error']} |" + " |" * 6)
            continue
        inference.append(
            f"| {r['model']} | {r['turns']:,} | {r['distinct_texts']:,} | {r['encoder_tps']:,.0f} | "
            f"{r['cold_tps']:,.0f} | **{r['ratio']:.2f}** | {r['ratio_wall']:.2f} | {r['warm_tps']:,.0f} |"
        )
        asset = (
            f"{r['asset_train_turns']:,} | {r['asset_cpu_s_per_10k']:,.0f} ({r['asset_wall_s_per_10k']:,.0f}) | "
            f"{r['asset_encoder_share']:.0%}"
            if "asset_train_turns" in r
            else f"{r.get('asset_error', '(in the row above)')} | |"
        )
        training.append(
            f"| {r['model']} | {r['fit_turns']:,} | {r['fit_cpu_s_per_10k']:,.0f} ({r['fit_wall_s_per_10k']:,.0f}) | "
            f"{r['fit_encoder_share']:.0%} | {r['epochs']} | {asset} |"
        )
    return "\n".join(inference) + "\n\n" + "\n".join(training)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--annotation-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--infer-sessions", type=int, default=600, help="sessions labelled per pass")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="every model's epochs (default: theirs)")
    parser.add_argument("--models", nargs="*", default=["label", "rephrase", "failure_point"])
    parser.add_argument("--tiny", action="store_true", help="a random tiny encoder (smoke test)")
    parser.add_argument("--encoder", default=None, help="local Hugging Face directory (see load_encoder)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a shared machine)")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        rate = args.annotation_rate
        simulate(
            SimConfig(users=args.users, start=DAY, annotation_rate=rate, seed=args.seed), raw, progress=False
        )
        con = duckdb.connect()
        run_sql(con, "ingest/schema.sql")
        ingest_turns(con, raw, DAY, "bench-key", lake=Lake(str(Path(tmp) / "lake")))
        ingest_annotations(con, raw, DAY)
        n_turns, n_sessions = con.execute(
            "SELECT count(*), count(DISTINCT session_id) FROM ingest.clean_turns"
        ).fetchone()
        texts = [r[0] or "" for r in con.execute("SELECT asr_text FROM ingest.clean_turns").fetchall()]
        texts += [r[0] or "" for r in con.execute("SELECT response_text FROM ingest.clean_turns").fetchall()]
        tokenizer, encoder = tiny_encoder(texts) if args.tiny else load_encoder(args.encoder)
        ids = con.execute("SELECT DISTINCT session_id FROM ingest.clean_turns ORDER BY 1").fetchall()
        sessions = pl.Series([r[0] for r in ids]).sample(min(args.infer_sessions, n_sessions), seed=0)
        print(
            f"{n_turns:,} turns, {n_sessions:,} sessions ({args.users:,} users, annotation rate {args.annotation_rate}); "
            f"inference on {len(sessions):,} sessions; encoder "
            f"{'tiny (random)' if args.tiny else encoder.config.name_or_path}; torch threads "
            f"{torch.get_num_threads()}, {os.cpu_count()} CPUs; {args.repeats} repeats",
            flush=True,
        )

        def fresh() -> TimedEmbedder:
            return TimedEmbedder(tokenizer, encoder)

        builders = {
            "label": label_model_subjects,
            "rephrase": rephrase_subjects,
            "failure_point": failure_point_subjects,
        }
        rows = []
        for key in args.models:
            try:
                subjects = builders[key](args)
            except Exception as err:  # a model whose library code is missing or mid-change
                traceback.print_exc()
                rows.append({"model": key, "error": f"{type(err).__name__}: {err}"[:160]})
                continue
            for subject in subjects:
                try:
                    rows.append(
                        bench_subject(subject, con, sessions, fresh, args.repeats, Path(tmp) / "mlflow")
                    )
                except Exception as err:
                    traceback.print_exc()
                    rows.append({"model": subject.name, "error": f"{type(err).__name__}: {err}"[:160]})
                print(json.dumps(rows[-1], default=str), flush=True)
        con.close()
    print()
    print(_tables(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
