"""Fault injection: the fault classes of the reliability issue, end to end on small simulated worlds, each
reported as held or broke.

    .venv/bin/python bench/faults.py                  # every class, 2 days x 300 users, seed 5
    .venv/bin/python bench/faults.py --only crash,privacy --work /tmp/faults --keep

Every world is a fresh SELFLEARN_HOME (warehouse, MLflow, exports, DAGSTER_HOME) simulated with `selflearn
simulate`, with a tiny random encoder (SELFLEARN_ENCODER) so that a run takes minutes, and an explicit
pseudonym key. The faults go through the product's own surfaces: `selflearn run`, `selflearn rotate-key`,
`dagster asset materialize` of the project's code location (what the UI's "Materialize" does). Classes:

- crash:   `kill -9` of `selflearn run` while `label_model` trains; the same run again must finish (not hang),
           leave no Dagster run STARTED, no pool slot held and no MLflow run RUNNING.
- files:   a truncated `.jsonl.gz` holding most of the day must block the day with a gate message naming the
           rate and the limit (nothing exported for it); a day folder holding only a `.json` file must not
           replace the day's clean rows.
- blocked: with that day blocked, the next day's run must train on the next day only, and materializing
           `sessions` of the blocked day must fail saying it is blocked.
- gold:    shuffling a day's audit gold must block that day's label release, the previous release staying
           published.
- privacy: `min_users: 1` refused without `unsafe_min_users`; the default key warns; another key is refused
           until `selflearn rotate-key`; device ids are pseudonymised; raw ids in quarantined text and nested in
           `extra` are redacted.

Prints one line per check, then held / broke per class; exits 1 when any class broke.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selflearn_assets.lib.models.encoder import tiny_encoder  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KEY = "faults-bench-key-1"
INGEST = "clean_turns,quarantined_turns"  # the two outputs of the raw_turns step
CLASSES = ("crash", "files", "blocked", "gold", "privacy")


@dataclass
class Outcome:
    name: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    def check(self, what: str, ok: bool, detail: str = "") -> bool:
        self.checks.append((what, bool(ok), detail))
        print(f"  [{'ok' if ok else 'FAIL'}] {self.name}: {what}" + (f" ({detail})" if detail and not ok else ""))
        return bool(ok)

    @property
    def held(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)


class World:
    """A simulated world in its own SELFLEARN_HOME, and the commands run on it."""

    def __init__(self, folder: Path, users: int, days: int, seed: int, start: date):
        self.folder, self.start, self.days = folder, start, [start + timedelta(days=i) for i in range(days)]
        self.home, self.raw = folder / "home", folder / "raw"
        self.env = {
            **os.environ,
            "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
            "SELFLEARN_HOME": str(self.home),
            "SELFLEARN_RAW_ROOT": str(self.raw),
            "DAGSTER_HOME": str(self.home / "dagster"),
            "SELFLEARN_PSEUDONYM_KEY": KEY,
            "SELFLEARN_ENCODER": str(folder / "encoder"),
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("SELFLEARN_DEMO", None)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.cli("simulate", "--start", str(start), "--days", str(days), "--users", str(users), "--seed",
                 str(seed), "--out", str(self.raw), "--quiet", check=True)
        texts = [json.loads(line).get("asr_text") or "" for f in self.raw.glob("date=*/*.jsonl") for line in
                 f.open()]
        tokenizer, model = tiny_encoder(texts)
        tokenizer.save_pretrained(folder / "encoder")
        model.save_pretrained(folder / "encoder")

    def cli(self, *args: str, env: dict | None = None, timeout: float = 1800, check: bool = False):
        """`selflearn ARGS`: (exit code, stdout + stderr)."""
        return self._call([str(BIN / "selflearn"), *args], env, timeout, check)

    def materialize(self, select: str, day: date, config: dict | None = None, env: dict | None = None):
        """`dagster asset materialize` of the project's code location: (exit code, output)."""
        args = [str(BIN / "dagster"), "asset", "materialize", "-m", "selflearn_assets.definitions",
                "--select", select, "--partition", day.isoformat()]
        if config:
            args += ["--config-json", json.dumps(config)]
        return self._call(args, env, 1800, False)

    def _call(self, args: list[str], env: dict | None, timeout: float, check: bool) -> tuple[int, str]:
        started = time.monotonic()
        try:
            done = subprocess.run(args, cwd=ROOT, env=env or self.env, capture_output=True, text=True,
                                  timeout=timeout)
            code, out = done.returncode, done.stdout + done.stderr
        except subprocess.TimeoutExpired as err:
            code, out = -1, f"{err.stdout or ''}{err.stderr or ''}\n(timed out after {timeout:.0f} s)"
        (self.folder / "commands.log").open("a").write(f"$ {' '.join(args)}\n{out}\n(exit {code})\n\n")
        print(f"    {Path(args[0]).name} {' '.join(args[1:4])} ... exit {code} in {time.monotonic() - started:.0f} s")
        if check and code != 0:
            raise RuntimeError(f"{' '.join(args)} failed:\n{out[-3000:]}")
        return code, out

    def sql(self, query: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.home / "warehouse.duckdb"), read_only=True) as con:
            return con.execute(query, params or []).fetchall()

    def day_dir(self, day: date, annotations: bool = False) -> Path:
        return (self.raw / "annotations" if annotations else self.raw) / f"date={day}"

    def stuck(self) -> dict[str, int]:
        """What a crash could have left behind: runs not finished, pool slots held, MLflow runs RUNNING."""
        import dagster as dg

        from selflearn_assets import recovery

        with dg.DagsterInstance.from_config(str(self.home / "dagster")) as instance:
            unfinished = len(instance.get_runs(dg.RunsFilter(statuses=recovery.ACTIVE)))
            slots = len([s for s in recovery.pool_slots(instance) if s.claimed])
        db = self.home / "mlflow" / "mlflow.db"
        with sqlite3.connect(db) as con:
            running = con.execute("SELECT count(*) FROM runs WHERE status = 'RUNNING'").fetchone()[0]
        return {"unfinished_runs": unfinished, "held_slots": slots, "mlflow_running": running}


def crash(world: World, out: Outcome) -> None:
    d1, d2 = world.days[0], world.days[-1]
    log = world.folder / "killed_run.log"
    with log.open("w") as f:
        process = subprocess.Popen(
            [str(BIN / "selflearn"), "run", "--start", str(d1), "--end", str(d2), "--verbose"],
            cwd=ROOT, env=world.env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True,
        )
    deadline = time.monotonic() + 1800
    while 'Started execution of step "label_model"' not in log.read_text() and process.poll() is None:
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    time.sleep(2)  # well into the training: its MLflow run is open
    reached = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    if not out.check("the run reached label_model and was killed there", reached, log.read_text()[-2000:]):
        return
    before = world.stuck()
    out.check("the kill left a run behind (the fault is real)", before["unfinished_runs"] >= 1, str(before))
    started = time.monotonic()
    code, text = world.cli("run", "--start", str(d1), "--end", str(d2), timeout=1800)
    out.check("the same run again finishes", code in (0, 1), f"exit {code} after {time.monotonic() - started:.0f} s")
    out.check("it says what it recovered", "[selflearn] recovered run" in text, text[-1500:])
    after = world.stuck()
    out.check("nothing is left STARTED, holding a slot or RUNNING in MLflow", not any(after.values()), str(after))
    out.check("the day's rewrites are exported", (world.home / "exports" / "rewrites" / f"date={d2}").is_dir())


def files(world: World, out: Outcome) -> None:
    """Truncated gzip holding most of day 1 (day 1 blocked), then a .json-only folder for day 2."""
    d1, d2 = world.days[0], world.days[-1]
    part = world.day_dir(d1) / "part-00000.jsonl"
    lines = part.read_text().splitlines(keepends=True)
    part.write_text("".join(lines[:100]))
    data = gzip.compress("".join(lines[100:]).encode())
    (world.day_dir(d1) / "part-00001.jsonl.gz").write_bytes(data[:-20])
    code, text = world.cli("run", "--start", str(d1), "--end", str(d1))
    out.check("the day with a truncated .jsonl.gz fails", code == 1, f"exit {code}")
    out.check("the gate names the rate and the limit", "quarantine rate" in text and "limit 5.0%" in text,
              text[-1500:])
    lost = world.sql("SELECT lines_lost_estimate FROM ingest.partition_stats WHERE day = ?", [d1])
    expected = len(lines) - 100
    estimate = lost[0][0] if lost else 0
    out.check("the unread lines are estimated within 25%", abs(estimate - expected) <= 0.25 * expected,
              f"estimate {estimate}, truly {expected}")
    out.check("nothing is exported for the blocked day",
              not (world.home / "exports" / "rewrites" / f"date={d1}").exists()
              and not (world.home / "exports" / "labels" / f"date={d1}").exists())
    # day 2: ingested, then its only file renamed .json (skipped): re-ingesting must not empty it
    code, _ = world.materialize(INGEST, d2)
    rows_before = world.sql("SELECT count(*) FROM ingest.clean_turns WHERE day = ?", [d2])[0][0]
    os.rename(world.day_dir(d2) / "part-00000.jsonl", world.day_dir(d2) / "part-00000.json")
    code2, text = world.materialize(INGEST, d2)
    rows_after = world.sql("SELECT count(*) FROM ingest.clean_turns WHERE day = ?", [d2])[0][0]
    os.rename(world.day_dir(d2) / "part-00000.json", world.day_dir(d2) / "part-00000.jsonl")
    out.check("a .json-only day folder is refused, not an empty day",
              code == 0 and rows_before > 0 and code2 != 0 and rows_after == rows_before,
              f"exit {code2}, rows {rows_before} -> {rows_after}")
    out.check("the refusal names the skipped file", "part-00000.json" in text, text[-1500:])


def blocked(world: World, out: Outcome) -> None:
    """Runs after `files`: day 1 is blocked there."""
    d1, d2 = world.days[0], world.days[-1]
    status = world.sql("SELECT readable FROM ingest.day_status WHERE day = ?", [d1])
    out.check("day 1 is blocked", status == [(False,)], str(status))
    code, text = world.cli("run", "--start", str(d2), "--end", str(d2), "--verbose")
    out.check("the next day runs", code in (0, 1), f"exit {code}")
    out.check("its training window leaves the blocked day out",
              f"({d2}..{d2})" in text and f"({d1}..{d2})" not in text, "no '(D2..D2)' window in the log")
    code, text = world.materialize("sessions", d1)
    out.check("materializing the blocked day's sessions fails, saying why", code != 0 and "is blocked" in text,
              text[-1500:])


def gold(world: World, out: Outcome) -> None:
    """Runs after `crash` (both days released): shuffle day 2's gold, run it again."""
    d2 = world.days[-1]
    release = world.home / "exports" / "labels" / f"date={d2}" / "manifest.json"
    if not out.check("day 2 was released before", release.is_file()):
        return
    before = release.read_bytes()
    folder = world.day_dir(d2, annotations=True)
    rows = [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.open()]
    rng = random.Random(0)
    for task in {r["task"] for r in rows}:
        golds = [r for r in rows if r["task"] == task and r["annotator"] == "gold"]
        labels = [r["label"] for r in golds]
        rng.shuffle(labels)
        for r, label in zip(golds, labels, strict=True):
            r["label"] = label
    for f in folder.glob("*.jsonl"):
        f.unlink()
    (folder / "part-00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, text = world.cli("run", "--start", str(d2), "--end", str(d2))
    out.check("the run with shuffled gold fails", code == 1, f"exit {code}")
    out.check("the label release is blocked", "label_release" in text, text[-1500:])
    out.check("the good release stays published", release.read_bytes() == before)


def privacy(world: World, out: Outcome) -> None:
    d1, d2 = world.days[0], world.days[-1]
    # raw ids in a quarantined line and nested in `extra`
    raw = world.day_dir(d1) / "part-00000.jsonl"
    first = json.loads(raw.open().readline())
    bad = dict(first, event_id="fault-bad", wake_score="loud")
    nested = dict(first, event_id="fault-nested", vendor={"user_id": first["user_id"], "device_id": "dev-X1"})
    with raw.open("a") as f:
        f.write(json.dumps(bad) + "\n" + json.dumps(nested) + "\n")
    code, text = world.cli("run", "--start", str(d1), "--end", str(d2))
    out.check("the world runs", code in (0, 1), f"exit {code}")
    leaks = world.sql(
        "SELECT count(*) FROM ingest.quarantined_turns WHERE contains(raw, ?) OR contains(raw, ?)",
        [first["user_id"], first["device_id"]],
    )[0][0]
    out.check("quarantined raw text holds no raw id", leaks == 0, f"{leaks} rows")
    extra = world.sql("SELECT extra::VARCHAR FROM ingest.clean_turns WHERE event_id = 'fault-nested'")
    out.check("ids nested in extra are pseudonymised",
              extra and first["user_id"] not in extra[0][0] and "dev-X1" not in extra[0][0], str(extra))
    raw_devices = {json.loads(line)["device_id"] for f in world.raw.glob("date=*/*.jsonl") for line in f.open()}
    stored = {r[0] for r in world.sql("SELECT DISTINCT device_id FROM ingest.clean_turns")}
    out.check("device ids are pseudonymised", stored and not stored & raw_devices, f"{len(stored & raw_devices)}")
    # the privacy floor of global rewrites
    code, text = world.materialize("markov_rewrites", d2, {"ops": {"markov_rewrites": {"config": {"min_users": 1}}}})
    out.check("min_users 1 is refused", code != 0 and "unsafe_min_users" in text, text[-1500:])
    unsafe = {"ops": {"markov_rewrites": {"config": {"min_users": 1, "unsafe_min_users": True}}}}
    code, text = world.materialize("markov_rewrites", d2, unsafe)
    recorded = world.sql("SELECT count(*) FROM rewrites.mining_reports WHERE day = ? AND "
                         "report::VARCHAR LIKE '%\"unsafe_min_users\": true%'", [d2]) if code == 0 else [(0,)]
    out.check("with unsafe_min_users it runs and says so", code == 0 and recorded[0][0] >= 1, text[-800:])
    world.materialize("markov_rewrites", d2)  # back to the safe table
    # the default key warns; another key is refused until the rotation is declared
    default = {k: v for k, v in world.env.items() if k != "SELFLEARN_PSEUDONYM_KEY"}
    code, text = world.materialize(INGEST, d2, env=default)
    out.check("the default key warns", "SELFLEARN_PSEUDONYM_KEY is not set" in text, text[-800:])
    other = dict(world.env, SELFLEARN_PSEUDONYM_KEY="faults-bench-key-2")
    users_before = world.sql("SELECT count(DISTINCT user_id) FROM ingest.clean_turns")[0][0]
    code, text = world.materialize(INGEST, d2, env=other)
    out.check("another key is refused, naming rotate-key", code != 0 and "rotate-key" in text, text[-800:])
    users_after = world.sql("SELECT count(DISTINCT user_id) FROM ingest.clean_turns")[0][0]
    out.check("users are not split", users_after == users_before, f"{users_before} -> {users_after}")
    rotated = dict(other, OLD_KEY=KEY)
    code, text = world.cli("rotate-key", "--old-key-env", "OLD_KEY", env=rotated)
    out.check("rotate-key records the rotation", code == 0, text[-800:])
    code, text = world.materialize(INGEST, d2, env=other)
    out.check("after rotate-key the new key is accepted", code == 0, text[-800:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    ap.add_argument("--only", default=",".join(CLASSES), help=f"comma-separated of {', '.join(CLASSES)}")
    ap.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder (its commands.log files)")
    args = ap.parse_args(argv)
    only = [c for c in args.only.split(",") if c]
    unknown = set(only) - set(CLASSES)
    if unknown:
        ap.error(f"unknown classes {sorted(unknown)}; choose from {', '.join(CLASSES)}")
    work = args.work or Path(tempfile.mkdtemp(prefix="selflearn-faults-"))
    outcomes: dict[str, Outcome] = {}
    started = time.monotonic()

    def world(name: str) -> World:
        print(f"[faults] world {name}: {args.days} days x {args.users} users, seed {args.seed}")
        return World(work / name, args.users, args.days, args.seed, args.start)

    def run(name: str, body, on: World) -> None:
        print(f"[faults] {name}")
        outcomes[name] = Outcome(name)
        try:
            body(on, outcomes[name])
        except Exception as err:  # a crash of the bench is a broken class, with its reason
            outcomes[name].check("ran without an error", False, f"{type(err).__name__}: {err}")

    try:
        if "crash" in only or "gold" in only:
            trained = world("trained")
            if "crash" in only:
                run("crash", crash, trained)
            else:
                trained.cli("run", "--start", str(trained.days[0]), "--end", str(trained.days[-1]))
            if "gold" in only:
                run("gold", gold, trained)
        if "files" in only or "blocked" in only:
            damaged = world("damaged")
            run("files", files, damaged)
            if "blocked" in only:
                run("blocked", blocked, damaged)
        if "privacy" in only:
            run("privacy", privacy, world("privacy"))
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n[faults] {time.monotonic() - started:.0f} s; work folder {work if args.keep else '(removed)'}")
    for name in CLASSES:
        if name in outcomes:
            o = outcomes[name]
            failed = [what for what, ok, _ in o.checks if not ok]
            print(f"{name:8s} {'held' if o.held else 'BROKE'}  ({len(o.checks) - len(failed)}/{len(o.checks)} checks)"
                  + (f": {'; '.join(failed)}" if failed else ""))
    return 0 if all(o.held for o in outcomes.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
