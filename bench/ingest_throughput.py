"""Ingestion throughput: DuckDB's bare `read_json` against `ingest_turns` on the same day of raw logs.

    python bench/ingest_throughput.py RAW_ROOT DAY                 # measure an existing day
    python bench/ingest_throughput.py RAW_ROOT DAY --generate 1000000 --shards 4   # write a day first

Each measurement runs in a fresh subprocess against a fresh on-disk warehouse, so the peak RSS it reports
is that step's alone. Prints rows/s of both, their ratio, and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

WORDS = (
    "play imagine dragons set a timer for ten minutes what is the weather in seattle turn on the kitchen "
    "lights call mom add milk to my shopping list how tall is mount everest stop volume up next song"
).split()
DEVICE_TYPES = ["speaker", "screen", "tv", "car", "phone", "other"]
STATUSES = ["success"] * 6 + ["error", "clarify", "unsupported", "no_response"]


def contract_row(rng: random.Random, day: date, i: int) -> dict:
    """One contract-like turn with every field filled (the heaviest case for validation)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    ts = start + timedelta(milliseconds=rng.randrange(86_400_000))
    text = " ".join(rng.choices(WORDS, k=rng.randint(2, 8)))
    return {
        "event_id": f"evt-{day:%Y%m%d}-{i:09d}",
        "session_id": f"sess-{i // 5:08d}",
        "user_id": f"user-{rng.randrange(50_000):06d}",
        "device_id": f"dev-{rng.randrange(80_000):06d}",
        "ts": ts.isoformat(timespec="milliseconds"),
        "asr_text": text,
        "device_type": rng.choice(DEVICE_TYPES),
        "locale": "en-US",
        "wake_score": round(rng.random(), 4),
        "asr_confidence": round(rng.random(), 4),
        "asr_nbest": [{"text": text, "score": round(rng.random(), 3)} for _ in range(3)],
        "nlu_domain": "music",
        "nlu_intent": "PlayMusicIntent",
        "nlu_slots": [{"name": "artist", "value": "imagine dragons"}],
        "nlu_confidence": round(rng.random(), 4),
        "er_status": "resolved",
        "er_entity_id": f"ent-{rng.randrange(10_000)}",
        "response_text": "Playing Imagine Dragons from your library.",
        "response_status": rng.choice(STATUSES),
        "response_duration_ms": rng.randrange(0, 8000),
        "barge_in": rng.random() < 0.1,
        "explicit_feedback": rng.choice([None, None, None, "positive", "negative"]),
        "device_state": {"media": "playing", "volume": "5"},
        "rewrite_applied": None,
        "audio_uri": f"s3://audio/{i:09d}.wav",
    }


def generate(raw_root: Path, day: date, rows: int, shards: int) -> None:
    folder = raw_root / f"date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    per_shard = -(-rows // shards)
    for s in range(shards):
        with open(folder / f"part-{s:03d}.jsonl", "w", encoding="utf-8") as f:
            for i in range(s * per_shard, min(rows, (s + 1) * per_shard)):
                f.write(json.dumps(contract_row(rng, day, i), separators=(",", ":")) + "\n")


def _bare(raw_root: Path, day: date, warehouse: Path) -> int:
    import duckdb

    con = duckdb.connect(str(warehouse))
    pattern = str(raw_root / f"date={day.isoformat()}" / "*.jsonl")
    con.execute("CREATE TABLE t AS SELECT * FROM read_json(?)", [pattern])
    return con.execute("SELECT count(*) FROM t").fetchone()[0]


def _ingest(raw_root: Path, day: date, warehouse: Path) -> int:
    import duckdb

    from selflearn_assets.lib.ingest import ingest_turns

    con = duckdb.connect(str(warehouse))
    stats = ingest_turns(con, raw_root, day, "bench-key")
    return stats.lines_read


def _child(phase: str, raw_root: Path, day: date, warehouse: Path) -> None:
    """Run one phase and print `rows seconds` (the parent reads it)."""
    started = time.perf_counter()
    rows = (_bare if phase == "bare" else _ingest)(raw_root, day, warehouse)
    print(rows, time.perf_counter() - started)


def measure(phase: str, raw_root: Path, day: date) -> tuple[int, float, float, float]:
    """(rows, wall seconds, peak RSS in MiB, CPU seconds) of one phase in a fresh subprocess."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            __file__,
            str(raw_root),
            day.isoformat(),
            "--phase",
            phase,
            "--warehouse",
            str(Path(tmp) / "w.duckdb"),
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        out = proc.stdout.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{phase} failed")
    rows, seconds = out.split()
    return int(rows), float(seconds), usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("raw_root", type=Path)
    parser.add_argument("day", type=date.fromisoformat)
    parser.add_argument("--generate", type=int, default=0, help="first write this many contract-like rows")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3, help="best of N interleaved runs of each phase")
    parser.add_argument("--phase", choices=["bare", "ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _child(args.phase, args.raw_root, args.day, args.warehouse)
        return
    if args.generate:
        generate(args.raw_root, args.day, args.generate, args.shards)
    runs: dict[str, list] = {"bare": [], "ingest": []}
    for _ in range(args.repeat):  # interleaved, so a busy neighbour slows both alike
        for phase in runs:
            runs[phase].append(measure(phase, args.raw_root, args.day))
    results = {phase: min(r, key=lambda run: run[1]) for phase, r in runs.items()}
    for phase, (rows, seconds, rss, cpu) in results.items():
        name = "bare read_json" if phase == "bare" else "ingest_turns"
        print(
            f"{name:15s} {rows:>10,d} rows  {seconds:7.2f} s  {rows / seconds:>10,.0f} rows/s  "
            f"peak RSS {rss:,.0f} MiB  (CPU {cpu:.1f} s incl. interpreter start)"
        )
    ratio = (results["ingest"][0] / results["ingest"][1]) / (results["bare"][0] / results["bare"][1])
    print(f"ratio ingest/bare: {ratio:.2f}")


if __name__ == "__main__":
    main()
