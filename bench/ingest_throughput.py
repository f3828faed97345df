"""Ingestion throughput: DuckDB's bare `read_json` against `ingest_turns` on the same day of raw logs.

    python bench/ingest_throughput.py RAW_ROOT DAY                 # measure an existing day
    python bench/ingest_throughput.py RAW_ROOT DAY --generate 1000000 --shards 4   # write a day first
    python bench/ingest_throughput.py RAW_ROOT DAY --generate 1000000 --lean       # ~300-byte rows

Each measurement runs in a fresh subprocess against a fresh on-disk warehouse, so the peak RSS it reports
is that step's alone; the runs are interleaved and the best of each kept. Prints rows/s, CPU seconds and
peak RSS of both, and their ratio by wall time and by CPU time (on a shared machine the CPU-time ratio is
the steadier of the two).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
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


LEAN_FIELDS = (
    "event_id",
    "session_id",
    "user_id",
    "device_id",
    "ts",
    "asr_text",
    "device_type",
    "asr_confidence",
    "nlu_intent",
    "response_status",
    "barge_in",
)


def generate(raw_root: Path, day: date, rows: int, shards: int, lean: bool = False) -> None:
    """Write `rows` contract-like turns (~900 bytes each, every field; ~300 bytes with `lean`)."""
    folder = raw_root / f"date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    per_shard = -(-rows // shards)
    for s in range(shards):
        with open(folder / f"part-{s:03d}.jsonl", "w", encoding="utf-8") as f:
            for i in range(s * per_shard, min(rows, (s + 1) * per_shard)):
                row = contract_row(rng, day, i)
                if lean:
                    row = {k: row[k] for k in LEAN_FIELDS}
                f.write(json.dumps(row, separators=(",", ":")) + "\n")


def _bare(con, raw_root: Path, day: date) -> int:
    pattern = str(raw_root / f"date={day.isoformat()}" / "*.jsonl")
    con.execute("CREATE TABLE t AS SELECT * FROM read_json(?)", [pattern])
    return con.execute("SELECT count(*) FROM t").fetchall()[0][0]


def _ingest(con, raw_root: Path, day: date) -> int:
    from selflearn_assets.lib.ingest import ingest_turns

    return ingest_turns(con, raw_root, day, "bench-key").lines_read


def _child(phase: str, raw_root: Path, day: date, warehouse: Path) -> None:
    """Run one phase on a fresh warehouse; print `rows wall_seconds cpu_seconds` (imports not timed)."""
    import duckdb
    import pandas  # noqa: F401  (duckdb imports it on a process's first Arrow registration: ~0.3 s of imports)

    import selflearn_assets.lib.ingest  # noqa: F401  (imported before the clock starts, like duckdb)

    con = duckdb.connect(str(warehouse))
    cpu_before, started = _cpu_seconds(), time.perf_counter()
    rows = (_bare if phase == "bare" else _ingest)(con, raw_root, day)
    print(rows, time.perf_counter() - started, _cpu_seconds() - cpu_before)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(phase: str, raw_root: Path, day: date) -> tuple[int, float, float, float]:
    """(rows, wall seconds, CPU seconds, peak RSS in MiB) of one phase in a fresh subprocess."""
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
    rows, seconds, cpu = out.split()
    return int(rows), float(seconds), float(cpu), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("raw_root", type=Path)
    parser.add_argument("day", type=date.fromisoformat)
    parser.add_argument("--generate", type=int, default=0, help="first write this many contract-like rows")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--lean", action="store_true", help="generate only 11 fields per row (~300 bytes)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N interleaved runs of each phase")
    parser.add_argument("--phase", choices=["bare", "ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--warehouse", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        _child(args.phase, args.raw_root, args.day, args.warehouse)
        return
    if args.generate:
        generate(args.raw_root, args.day, args.generate, args.shards, args.lean)
    runs: dict[str, list] = {"bare": [], "ingest": []}
    for _ in range(args.repeat):  # interleaved, so a busy neighbour slows both alike
        for phase in runs:
            runs[phase].append(measure(phase, args.raw_root, args.day))
    results = {phase: min(r, key=lambda run: run[1]) for phase, r in runs.items()}
    for phase, (rows, seconds, cpu, rss) in results.items():
        name = "bare read_json" if phase == "bare" else "ingest_turns"
        print(
            f"{name:15s} {rows:>10,d} rows  {seconds:7.2f} s  {rows / seconds:>10,.0f} rows/s  "
            f"CPU {cpu:6.2f} s  peak RSS {rss:,.0f} MiB"
        )
    (bare_rows, bare_s, bare_cpu, _), (rows, ingest_s, ingest_cpu, _) = results["bare"], results["ingest"]
    print(
        f"ratio ingest/bare: {(rows / ingest_s) / (bare_rows / bare_s):.2f} (wall)  "
        f"{(rows / ingest_cpu) / (bare_rows / bare_cpu):.2f} (CPU time)"
    )


if __name__ == "__main__":
    main()
