"""A large simulated day through the daily assets: wall time and peak RSS per stage (issue 16).

    python bench/scale.py --work /tmp/scale --turns 1000000
    python bench/scale.py --work /tmp/scale --turns 10000000 --stages ingest,signals,markov

The first run builds a small **base world** under `--work` (`--base-days` x `--base-users`, simulated and run
through every asset by `selflearn run`, so the models are trained); later runs reuse it. Then one **big day**
(the day after the base window, `--turns` turns from as many users as that takes at the base world's turns per
user) is simulated into the same raw root and each stage's assets are materialised for that day, one stage a
process (`--stages`, in this order; the models are not retrained: no training in the timing):

| stage          | assets (with their asset checks)                             |
|----------------|--------------------------------------------------------------|
| ingest         | clean_turns, quarantined_turns, annotations, sessions        |
| signals        | defect_signals, rephrase_candidates, markov_transitions      |
| markov         | markov_rewrites                                              |
| labels         | turn_labels                                                  |
| failure_points | failure_points                                               |

Printed: per stage its wall time, its time in steps per turn, its peak RSS (the stage process and everything it
waited for, from `wait4`), and the seconds of each step (asset or check) from the run's event log; then turns
per second end to end. The labelling stages stream the day in chunks (`--chunk-turns`, their run config
`chunk_turns`): their peak RSS follows the chunk, not the day. A stage that fails is reported with its error and the rest still run where they can.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGES = {
    "ingest": ["clean_turns", "quarantined_turns", "annotations", "sessions"],
    "signals": ["defect_signals", "rephrase_candidates", "markov_transitions"],
    "markov": ["markov_rewrites"],
    "labels": ["turn_labels"],
    "failure_points": ["failure_points"],
}
START = date(2026, 11, 1)
CHUNKED = ("turn_labels", "failure_points")  # assets with a `chunk_turns` run config


def _env(work: Path) -> dict[str, str]:
    return {
        **os.environ,
        "SELFLEARN_HOME": str(work / "home"),
        "SELFLEARN_RAW_ROOT": str(work / "raw"),
        "SELFLEARN_PARTITIONS_START": START.isoformat(),
        "SELFLEARN_DEMO": "1",  # the development pseudonym key on purpose, as `selflearn demo`
        "DAGSTER_HOME": str(work / "home" / "dagster"),
        "PYTHONPATH": str(ROOT),
    }


def _selflearn(work: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "selflearn_assets.cli", *args]
    print(f"[scale] $ selflearn {' '.join(args)}", flush=True)
    subprocess.run(cmd, env=_env(work), check=True, cwd=ROOT)


def _turns_of(raw: Path, day: date) -> tuple[int, int]:
    """(turn lines, distinct users) of a simulated day's raw files."""
    import duckdb

    folder = raw / f"date={day.isoformat()}"
    files = [str(p) for p in sorted(folder.glob("*.jsonl*"))]
    con = duckdb.connect()
    n, users = con.execute(
        "SELECT count(*), count(DISTINCT user_id) FROM read_json_auto(?, format='newline_delimited')", [files]
    ).fetchone()
    return int(n), int(users)


def build_base(work: Path, days: int, users: int, seed: int) -> None:
    """Simulate the base window and run every asset on it (trains the models), unless already built."""
    done = work / "base.done"
    if done.is_file():
        return
    _selflearn(work, "simulate", "--start", START.isoformat(), "--days", str(days), "--users", str(users),
               "--seed", str(seed), "--out", str(work / "raw"), "--annotation-rate", "0.1", "--quiet")  # fmt: skip
    _selflearn(work, "run", "--raw-root", str(work / "raw"))
    done.write_text(json.dumps({"days": days, "users": users, "seed": seed}))


def simulate_big_day(work: Path, day: date, turns: int, base_days: int, seed: int) -> dict:
    """Simulate `day` with about `turns` turns (users scaled by the base world's turns per user-day)."""
    marker = work / f"day-{day}.json"
    if marker.is_file():
        info = json.loads(marker.read_text())
        if info["target_turns"] == turns:
            return info
    base_users = json.loads((work / "base.done").read_text())["users"]
    per_user = (
        sum(_turns_of(work / "raw", START + timedelta(days=d))[0] for d in range(base_days)) / base_days
    )
    users = max(1, round(turns * base_users / per_user))  # simulated users, not only those active that day
    started = time.perf_counter()
    _selflearn(work, "simulate", "--start", day.isoformat(), "--days", "1", "--users", str(users),
               "--seed", str(seed + 1), "--out", str(work / "raw"), "--annotation-rate", "0.1", "--quiet")  # fmt: skip
    seconds = time.perf_counter() - started
    n, _ = _turns_of(work / "raw", day)
    info = {"target_turns": turns, "users": users, "turns": n, "simulate_s": round(seconds, 1)}
    marker.write_text(json.dumps(info))
    return info


def run_stage(work: Path, stage: str, day: date, chunk_turns: int | None = None) -> dict:
    """One stage's assets for `day` in a child process: its wall time, peak RSS and per-step seconds."""
    out = work / f"stage-{stage}.json"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        stage,
        "--day",
        day.isoformat(),
        "--out",
        str(out),
        *(["--chunk-turns", str(chunk_turns)] if chunk_turns else []),
    ]
    started = time.perf_counter()
    with open(work / f"stage-{stage}.log", "w") as log:  # Dagster's event log, not the bench's output
        proc = subprocess.Popen(cmd, env=_env(work), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    result = json.loads(out.read_text()) if out.is_file() else {"ok": False, "error": f"exit status {status}"}
    return {"stage": stage, "wall_s": wall, "peak_rss_gib": usage.ru_maxrss / 2**20, **result}


def child(stage: str, day: date, out: Path, chunk_turns: int | None = None) -> None:
    """Materialise `stage`'s assets (and their checks) for `day` in this process; per-step seconds to `out`."""
    import dagster as dg

    from selflearn_assets.definitions import defs

    d = defs()
    job = d.resolve_implicit_global_asset_job_def()
    instance = dg.DagsterInstance.ephemeral()
    result = job.execute_in_process(
        partition_key=day.isoformat(),
        asset_selection=[dg.AssetKey(k) for k in STAGES[stage]],
        instance=instance,
        raise_on_error=False,
        run_config={
            "ops": {a: {"config": {"chunk_turns": chunk_turns}} for a in STAGES[stage] if a in CHUNKED}
        }
        if chunk_turns
        else None,
    )
    started: dict[str, float] = {}
    steps: dict[str, float] = {}
    for record in instance.all_logs(result.run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE") and event.step_key in started:
            steps[event.step_key] = round(record.timestamp - started[event.step_key], 2)
    errors = [
        f"{e.step_key}: {e.event_specific_data.error.message.strip().splitlines()[0]}"
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    ]
    out.write_text(json.dumps({"ok": result.success, "steps": steps, "errors": errors}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/selflearn-scale"))
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated, of {', '.join(STAGES)}")
    parser.add_argument("--base-days", type=int, default=2)
    parser.add_argument("--base-users", type=int, default=800)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--chunk-turns",
        type=int,
        help="turns per chunk of the labelling assets (default: their run config's)",
    )
    parser.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--day", type=date.fromisoformat, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.day, args.out, args.chunk_turns)
        return
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {unknown}: of {list(STAGES)}")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    build_base(work, args.base_days, args.base_users, args.seed)
    day = START + timedelta(days=args.base_days)
    info = simulate_big_day(work, day, args.turns, args.base_days, args.seed)
    print(f"[scale] big day {day}: {info['turns']:,} turns from {info['users']:,} users "
          f"(simulated in {info['simulate_s']} s)", flush=True)  # fmt: skip
    rows = []
    for stage in stages:
        row = run_stage(work, stage, day, args.chunk_turns)
        rows.append(row)
        state = "ok" if row["ok"] else "FAILED: " + "; ".join(row.get("errors") or [row.get("error", "")])
        print(
            f"[scale] {stage}: {row['wall_s']:.1f} s, peak RSS {row['peak_rss_gib']:.2f} GiB, {state}",
            flush=True,
        )
    print(f"\n{info['turns']:,}-turn day ({day}), stages one process each:\n")
    print("| stage | wall (s) | in steps (s) | µs per turn in steps | peak RSS (GiB) | steps (s) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        steps = row.get("steps", {})
        row["steps_s"] = sum(steps.values())
        listed = ", ".join(f"{k} {v}" for k, v in sorted(steps.items(), key=lambda kv: -kv[1]))
        per_turn = 1e6 * row["steps_s"] / max(1, info["turns"])
        print(
            f"| {row['stage']} | {row['wall_s']:.1f} | {row['steps_s']:.1f} | {per_turn:.0f} | "
            f"{row['peak_rss_gib']:.2f} | {listed} |"
        )
    total, in_steps = sum(r["wall_s"] for r in rows), sum(r["steps_s"] for r in rows)
    print(f"\nend to end {total:.0f} s ({in_steps:.0f} s in steps; the rest is each stage process loading the "
          f"code location): {info['turns'] / in_steps:,.0f} turns/s in steps; "
          f"max peak RSS {max(r['peak_rss_gib'] for r in rows):.2f} GiB")  # fmt: skip


if __name__ == "__main__":
    main()
