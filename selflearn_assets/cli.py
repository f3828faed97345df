"""`selflearn` console command: simulate logs, run every asset for a range of days, run the demo; rewrite
requests and serve the online rewriter, teach it a user's preferences, pin the exports it serves."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_simulate(args: argparse.Namespace) -> int:
    from selflearn_assets.lib.evaluation.rewrite_replay import save_simulator_config
    from selflearn_assets.lib.simulator import SimConfig, simulate

    if getattr(args, "corpus", None) is not None:
        return _simulate_corpus(args)
    config = SimConfig(
        seed=args.seed,
        users=args.users,
        start=args.start,
        days=args.days,
        annotation_rate=0.1 if args.annotation_rate is None else args.annotation_rate,
        rewrite_table=args.rewrite_table,
        treatment_fraction=args.treatment_fraction,
    )
    summary = simulate(config, Path(args.out), progress=not args.quiet)
    save_simulator_config(config, args.out)
    _print_summary(summary, args.out)
    return 0


def _simulate_corpus(args: argparse.Namespace) -> int:
    """`selflearn simulate --corpus PATH`: the world of a real corpus (SLURP) instead of the synthetic one."""
    from selflearn_assets.lib.evaluation.rewrite_replay import save_simulator_config
    from selflearn_assets.lib.simulator.corpus import CorpusError, CorpusSimConfig, simulate_corpus

    config = CorpusSimConfig(
        corpus=Path(args.corpus).resolve(),
        seed=args.seed,
        users=args.users,
        start=args.start,
        days=args.days,
        annotation_rate=0.3 if args.annotation_rate is None else args.annotation_rate,
        unannotated_last_days=args.unannotated_last_days,
        rewrite_table=args.rewrite_table,
        treatment_fraction=args.treatment_fraction,
    )
    try:
        summary = simulate_corpus(config, Path(args.out), progress=not args.quiet)
    except CorpusError as err:
        print(f"selflearn simulate: {err}", file=sys.stderr)
        return 2
    save_simulator_config(config, args.out)
    _print_summary(summary, args.out)
    return 0


def _print_summary(summary, out) -> None:
    print(
        f"[selflearn] simulated {summary.turns} turns ({summary.sessions} sessions, {summary.users} users) "
        f"in {summary.seconds:.1f}s = {summary.turns_per_second:,.0f} turns/s into {out}"
    )
    stages = ", ".join(f"{k} {v:.1%}" for k, v in summary.defect_rate_by_stage.items() if k != "correct")
    print(f"[selflearn] defective turns {summary.defect_rate:.1%} (first failing stage: {stages})")


def cmd_run(args: argparse.Namespace) -> int:
    if args.raw_root:
        os.environ["SELFLEARN_RAW_ROOT"] = str(Path(args.raw_root).resolve())
    import dagster as dg

    from selflearn_assets import recovery, runner
    from selflearn_assets.lib.ingest import RawRootError, discover_partitions
    from selflearn_assets.lib.settings import ensure_dagster_home, load_settings
    from selflearn_assets.lib.warehouse_lock import WarehouseLockedError, check_unlocked

    settings = load_settings()
    try:
        available = discover_partitions(settings.raw_root)
    except RawRootError as err:
        print(f"selflearn run: {err}", file=sys.stderr)
        return 2
    if not available:
        print(f"selflearn run: no date=YYYY-MM-DD partitions under {settings.raw_root}", file=sys.stderr)
        return 2
    if args.end is not None and args.start is not None and args.end < args.start:
        print(f"selflearn run: --end {args.end} is before --start {args.start}", file=sys.stderr)
        return 2
    dagster_home = ensure_dagster_home(settings)
    if not runner.WORKSPACE_YAML.is_file():
        print(f"selflearn run: no {runner.WORKSPACE_YAML} (install selflearn from its checkout: pip install -e .)",
              file=sys.stderr)
        return 2
    try:
        check_unlocked(settings.warehouse)
    except WarehouseLockedError as err:
        print(f"selflearn run: {err}", file=sys.stderr)
        return 2
    from dagster._core.errors import DagsterExecutionInterruptedError

    from selflearn_assets.lib.quiet import quiet_libraries

    with _signal_exit_codes() as exit_code:
        try:
            quiet_libraries()  # the runs print our lines, warnings and errors, not the libraries' chatter
            # the code location `dagster dev -w workspace.yaml` shows: the runs are listed under its jobs
            location = runner.load_code_location(runner.WORKSPACE_YAML)
            days = _run_days(args, available, runner.partition_bounds(location), settings.raw_root)
            if days is None:
                return 2
            print(f"[selflearn] raw root {settings.raw_root}; home {settings.home}; days {days[0]} .. {days[-1]}")
            with dg.DagsterInstance.get() as instance:
                for done in recovery.recover(instance, settings.home):
                    print(f"[selflearn] {done.line()}")
                report = runner.run_range(
                    location, instance, days, log_level="DEBUG" if args.verbose else "WARNING",
                    fail_fast=args.fail_fast,
                )
        except (KeyboardInterrupt, DagsterExecutionInterruptedError):  # Dagster's name for Ctrl-C in user code
            print(f"\nselflearn run: interrupted; finished runs are recorded in DAGSTER_HOME={dagster_home}",
                  file=sys.stderr)
            return exit_code()
    if not report.ok:
        print("\n".join(report.summary()))
        print(
            f"selflearn run: {len(report.failures)} failure(s); see the runs in the UI "
            f"(DAGSTER_HOME={dagster_home})",
            file=sys.stderr,
        )
        return 1
    print(f"[selflearn] done: {len(report.runs)} runs recorded in DAGSTER_HOME={dagster_home}")
    print(f"[selflearn] warehouse: {settings.warehouse}")
    print(f"[selflearn] exports:   {settings.exports}")
    print(f"[selflearn] open the UI: DAGSTER_HOME={dagster_home} dagster dev -w {runner.WORKSPACE_YAML}")
    return 0


def _run_days(
    args: argparse.Namespace, available: list[date], bounds: tuple[date, date], raw_root: Path
) -> list[date] | None:
    """The days `selflearn run` materializes: --start..--end, by default the raw folders' days within the
    partitions (folders outside them are named and left out). None, after saying why on stderr, when a day is
    not a partition or has no raw folder."""
    from selflearn_assets import runner

    span = f"{bounds[0]} .. {bounds[1]}"
    strays = runner.outside(available, bounds)
    inside = [d for d in available if d not in strays]
    if strays and (args.start is None or args.end is None):
        print(f"[selflearn] left out {len(strays)} raw folder(s) outside the daily partitions ({span}): "
              + ", ".join(f"date={d}" for d in strays[:5]) + (" ..." if len(strays) > 5 else ""))
    if not inside and args.start is None:
        print(f"selflearn run: no raw folder under {raw_root} is a daily partition ({span}; the first is "
              "the first day of raw data or SELFLEARN_PARTITIONS_START, the last the last complete UTC day)", file=sys.stderr)
        return None
    start = args.start or inside[0]
    end = args.end or (inside[-1] if args.start is None else start)
    try:
        days = runner.days_between(start, end)
    except ValueError as err:
        print(f"selflearn run: {err}", file=sys.stderr)
        return None
    out = runner.outside(days, bounds)
    if out:
        what = "is not a daily partition" if len(out) == 1 else "are not daily partitions"
        print(
            f"selflearn run: {runner.describe_days(out)} {what}: the partitions run from {span} (the first is "
            "the first day of raw data or SELFLEARN_PARTITIONS_START, the last the last complete UTC day)",
            file=sys.stderr,
        )
        return None
    missing = [d for d in days if d not in set(available)]
    if missing:
        hint = "" if args.start else "; choose the days with --start/--end"
        print(f"selflearn run: {len(missing)} day(s) missing between {missing[0]} and {missing[-1]}: no raw "
              f"folder under {raw_root} for {runner.describe_days(missing)} (raw folders: "
              f"{_spans(available)}){hint}", file=sys.stderr)
        return None
    return days


def _spans(days: list[date], limit: int = 4) -> str:
    """Consecutive days as ranges: "2026-01-01, 2026-11-01..2026-11-03"."""
    spans: list[list[date]] = []
    for d in days:
        if spans and (d - spans[-1][-1]).days == 1:
            spans[-1].append(d)
        else:
            spans.append([d])
    text = [f"{s[0]}..{s[-1]}" if len(s) > 1 else str(s[0]) for s in spans]
    return ", ".join(text[:limit]) + (f", ... (+{len(text) - limit} more)" if len(text) > limit else "")


@contextmanager
def _signal_exit_codes() -> Iterator[Callable[[], int]]:
    """SIGTERM stops `selflearn run` as Ctrl-C does (a KeyboardInterrupt: the run canceled, its slots freed).
    Yields a function that gives the exit code for an interruption: 128 + the signal (130 for SIGINT, 143
    for SIGTERM). Dagster swaps the handlers while a run executes; the wakeup fd still sees every signal."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: 128 + signal.SIGINT
        return
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous_fd = signal.set_wakeup_fd(writer.fileno())
    previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler)

    def exit_code() -> int:
        last = int(signal.SIGINT)
        try:
            while data := reader.recv(64):
                last = data[-1]
        except BlockingIOError:
            pass
        return 128 + last

    try:
        yield exit_code
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.set_wakeup_fd(previous_fd)
        reader.close()
        writer.close()


def cmd_recover(args: argparse.Namespace) -> int:
    """Find the runs a killed `selflearn run` left behind (their process is gone) and finished runs that still
    hold pool slots; mark them FAILED, free their slots of the `duckdb` pool, mark their RUNNING MLflow runs
    FAILED. A run whose process is alive keeps everything: its holders are listed."""
    import dagster as dg

    from selflearn_assets import recovery
    from selflearn_assets.lib.settings import ensure_dagster_home, load_settings

    settings = load_settings()
    dagster_home = ensure_dagster_home(settings)
    with dg.DagsterInstance.get() as instance:
        done = recovery.recover(instance, settings.home, dry_run=args.dry_run)
        for item in done:
            line = item.line()
            print(f"[selflearn] {'dry run, not done: ' + line if args.dry_run else line}")
        holders = recovery.pool_slots(instance)
        for slot in holders:
            if slot.claimed and slot.run_id not in {item.run_id for item in done}:
                print(f"[selflearn] live: {recovery.holder_line(instance, slot)}")
    if not done:
        print(f"[selflearn] no dead runs in DAGSTER_HOME={dagster_home}")
    return 0


def _layers(text: str) -> tuple[str, ...]:
    """`table,global,personal` -> the names; checked against the runtime's layers by the command."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _check_layers(command: str, layers: tuple[str, ...] | None) -> tuple[str, ...] | None:
    from selflearn_assets.lib.online.runtime import ALL_LAYERS

    layers = layers or ALL_LAYERS
    unknown = sorted(set(layers) - set(ALL_LAYERS))
    if unknown:
        print(f"selflearn {command}: unknown layer(s) {', '.join(unknown)}; the layers are "
              f"{','.join(ALL_LAYERS)}", file=sys.stderr)
        return None
    return layers


def _warn_default_key(key: str) -> None:
    from selflearn_assets.lib.settings import default_key_warning

    warning = default_key_warning(key)
    if warning:
        print(f"[selflearn] warning: {warning}", file=sys.stderr)


TABLE_DETAILS = ("source_success_prob", "rewrite_success_prob", "confidence", "support_users", "support_sessions",
                 "support_transitions", "target_users", "hops", "origin")


def cmd_rewrite(args: argparse.Namespace) -> int:
    """Decide requests as the online rewriter does (`selflearn serve` answers the same): the exported table's
    exact match first, then the global and personal layers of the online bundle. The exports are the pinned
    ones, else the newest (--date: the newest on or before that day)."""
    import json

    from selflearn_assets.lib.online.bundle import BundleError, latest_bundle
    from selflearn_assets.lib.online.serve import load_rewriter, serving_folders
    from selflearn_assets.lib.rewrites import RewriteExportError, latest_export, lookup, read_export
    from selflearn_assets.lib.settings import load_settings

    layers = _check_layers("rewrite", args.layers)
    if layers is None:
        return 2
    settings = load_settings()
    exports = settings.exports
    if args.user is not None:
        _warn_default_key(settings.pseudonym_key)
    try:
        if args.date:
            online = latest_bundle(exports, on_or_before=args.date)
            table = latest_export(exports, on_or_before=args.date)
        else:
            online, table = serving_folders(exports)
        rewriter = load_rewriter(exports, settings.pseudonym_key, layers, online, table)
    except (BundleError, RewriteExportError) as err:
        print(f"selflearn rewrite: {err}", file=sys.stderr)
        return 2
    sources = rewriter.sources
    if not args.json:
        print(f"online {sources['online'] or '-'}; table {sources['table'] or '-'}; "
              f"layers {','.join(rewriter.layers)}; user {args.user or '-'}")
    table_frame = None
    for text in args.text:
        decision = rewriter.rewrite(args.user, text)
        if args.json:
            print(json.dumps(decision.as_dict()))
            continue
        score = "" if decision.score is None else f", score {decision.score:.3f}"
        if decision.rewrite is None:
            print(f"{text!r}: no rewrite ({decision.reason}{score})")
        else:
            print(f"{text!r} -> {decision.rewrite!r} (layer {decision.layer}{score})")
            print(f"    {'reason':22s} {decision.reason}")
            print(f"    {'rewrite_id':22s} {decision.rewrite_id}")
        if decision.layer == "table":
            if table_frame is None:
                table_frame = read_export(Path(sources["table"]))[0]
            row = lookup(table_frame, text) or {}
            for key in (k for k in TABLE_DETAILS if k in row):
                value = row[key]
                print(f"    {key:22s} {value:.3f}" if isinstance(value, float) else f"    {key:22s} {value}")
        for candidate in decision.candidates[: args.top]:
            print(f"    candidate {candidate['score']:.3f} {candidate['layer']:8s} {candidate['text']!r}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the online rewriter over HTTP: POST /rewrite {"user_id", "text"}, GET /health, GET /metrics. It
    serves the pinned exports, else the newest, and swaps to another one (a newer day, a pin) when its poll
    of the exports finds it, without dropping requests."""
    import logging

    import uvicorn

    from selflearn_assets.lib.online.bundle import BundleError
    from selflearn_assets.lib.online.serve import RewriterService, create_app
    from selflearn_assets.lib.rewrites import RewriteExportError
    from selflearn_assets.lib.settings import load_settings

    layers = _check_layers("serve", args.layers)
    if layers is None:
        return 2
    settings = load_settings()
    _warn_default_key(settings.pseudonym_key)
    logger = logging.getLogger("selflearn.serve")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[selflearn] %(asctime)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        service = RewriterService(settings.exports, settings.pseudonym_key, layers, args.poll_seconds)
    except (BundleError, RewriteExportError) as err:
        print(f"selflearn serve: {err}", file=sys.stderr)
        return 2
    print(f"[selflearn] serving {service.describe()} (layers {','.join(service.served.rewriter.layers)}) on "
          f"http://{args.host}:{args.port}; looking for newer exports under {settings.exports} every "
          f"{args.poll_seconds:g}s", flush=True)
    uvicorn.run(create_app(service), host=args.host, port=args.port, access_log=False, log_level="info")
    return 0


def cmd_teach(args: argparse.Namespace) -> int:
    """Teach a user a preference (KEY team, cuisine, news_source, music_service or any [a-z_]+ name) or a
    concept (KEY concept:<phrase>, VALUE what it means), as POST /teach does: appended to the runtime log
    $SELFLEARN_HOME/online/preferences.jsonl, which `selflearn rewrite` reads and a running `selflearn serve`
    re-reads at its next poll. A later teaching of the same key replaces the value; both are kept."""
    import uuid

    from selflearn_assets.lib.online.preferences import PreferenceStore, preferences_log
    from selflearn_assets.lib.online.runtime import Rewriter
    from selflearn_assets.lib.settings import load_settings

    settings = load_settings()
    _warn_default_key(settings.pseudonym_key)
    path = preferences_log(settings.home)
    event_id = args.event_id or f"cli-{uuid.uuid4().hex}"
    try:
        store = PreferenceStore.load(path)
        if store.skipped:
            print(f"[selflearn] warning: {len(store.skipped)} unreadable line(s) of {path} skipped (first: line "
                  f"{store.skipped[0][0]}: {store.skipped[0][1]})", file=sys.stderr)
        item = Rewriter(None, None, settings.pseudonym_key, preferences=store).teach(
            args.user, args.key, args.value, event_id
        )
    except ValueError as err:
        print(f"selflearn teach: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"selflearn teach: cannot write {path}: {err}", file=sys.stderr)
        return 1
    what = "unchanged (this event was taught before)" if item["status"] == "unchanged" else "taught"
    replaced = f"; replaces {item['replaced']!r}" if item["replaced"] is not None else ""
    print(f"[selflearn] {what}: user {item['user_id']} {item['key']} = {item['value']!r} (event {item['event_id']})"
          f"{replaced}")
    print(f"[selflearn] runtime log: {path}; a running `selflearn serve` uses it after its next poll")
    return 0


PIN_KINDS = ("online", "rewrites")


def _check_export(kind: str, folder: Path) -> None:
    """Refuse to pin an export whose files do not match its manifest (BundleError / RewriteExportError)."""
    if kind == "online":
        from selflearn_assets.lib.online.bundle import read_manifest, verify

        verify(folder, read_manifest(folder))
    else:
        from selflearn_assets.lib.rewrites import read_export

        read_export(folder)


def cmd_pin(args: argparse.Namespace) -> int:
    """Serve the export of DATE as the newest of its kind until `selflearn unpin`: roll back to a known good
    online bundle or rewrite table, or hold it while newer days are exported. A running `selflearn serve` swaps
    at its next poll. The daily assets do not see pins (they read the exports as written)."""
    from selflearn_assets.lib.export_pins import PinError, export_days, write_pin
    from selflearn_assets.lib.online.bundle import BundleError
    from selflearn_assets.lib.rewrites import RewriteExportError
    from selflearn_assets.lib.settings import load_settings

    root = load_settings().exports / args.kind
    marker = "manifest.json"  # the marker of a complete export, for both kinds
    folder = root / f"date={args.date.isoformat()}"
    try:
        if (folder / marker).is_file():
            _check_export(args.kind, folder)
        write_pin(root, args.date, marker)
    except (PinError, BundleError, RewriteExportError) as err:
        print(f"selflearn pin: {err}", file=sys.stderr)
        return 2
    print(f"[selflearn] pinned {args.kind} to {args.date}: {folder}")
    newer = [d for d in export_days(root, marker) if d > args.date]
    if newer:
        print(f"[selflearn] {len(newer)} newer {args.kind} export(s) (the newest {newer[-1]}) are not served "
              f"until `selflearn unpin {args.kind}`")
    print("[selflearn] a running `selflearn serve` swaps to it at its next poll")
    return 0


def cmd_unpin(args: argparse.Namespace) -> int:
    """Remove the pin of a kind: the runtime serves its newest export again."""
    from selflearn_assets.lib.export_pins import remove_pin, serving_day
    from selflearn_assets.lib.settings import load_settings

    root = load_settings().exports / args.kind
    was = remove_pin(root)
    newest = serving_day(root, "manifest.json")
    state = f"unpinned {args.kind} (was {was})" if was else f"{args.kind} was not pinned"
    print(f"[selflearn] {state}; serving the newest export: {newest or 'none'}")
    return 0


def demo_start(days: int, today: date | None = None) -> date:
    """The first of the last `days` complete UTC days: the daily partitions run up to yesterday, so a demo of
    those days fills every partition from its first day on."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=days)


def cmd_demo(args: argparse.Namespace) -> int:
    from selflearn_assets.lib.settings import DEMO_ENV, load_settings

    os.environ[DEMO_ENV] = "1"  # the demo runs on the development pseudonym key on purpose: no warning
    settings = load_settings()
    raw = settings.raw_root
    start = args.start or demo_start(args.days)
    print(f"[selflearn] demo: simulating {args.days} days x {args.users} users from {start} into {raw}")
    sim_args = argparse.Namespace(
        seed=args.seed, users=args.users, start=start, days=args.days, annotation_rate=0.1,
        rewrite_table=None, treatment_fraction=0.5, out=raw, quiet=False,
    )
    cmd_simulate(sim_args)
    run_args = argparse.Namespace(raw_root=str(raw), start=None, end=None, verbose=False, fail_fast=False)
    return cmd_run(run_args)


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """Declare a pseudonym key rotation: days ingested with the old key may be followed by days ingested with
    the current SELFLEARN_PSEUDONYM_KEY (without it, ingesting a day with another key is refused)."""
    import duckdb

    from selflearn_assets.lib.ingest import IngestError, declare_rotation, key_fingerprint
    from selflearn_assets.lib.ingest.pseudonym_keys import recorded_fingerprints
    from selflearn_assets.lib.ingest.schema import ensure_ingest_schema
    from selflearn_assets.lib.settings import DEV_PSEUDONYM_KEY, load_settings

    settings = load_settings()
    if settings.pseudonym_key == DEV_PSEUDONYM_KEY:
        print("selflearn rotate-key: set SELFLEARN_PSEUDONYM_KEY to the new key first", file=sys.stderr)
        return 2
    old = args.old_fingerprint
    if args.old_key_env:
        old_key = os.environ.get(args.old_key_env)
        if not old_key:
            print(f"selflearn rotate-key: the environment variable {args.old_key_env} is not set", file=sys.stderr)
            return 2
        old = key_fingerprint(old_key)
    new = key_fingerprint(settings.pseudonym_key)
    if not settings.warehouse.is_file():
        print(f"selflearn rotate-key: no warehouse at {settings.warehouse}: nothing was ingested yet", file=sys.stderr)
        return 2
    try:
        with duckdb.connect(str(settings.warehouse)) as con:
            ensure_ingest_schema(con)
            recorded = recorded_fingerprints(con)
            if old not in {fingerprint for _, fingerprint in recorded}:
                known = ", ".join(f"{fingerprint} (from {day})" for day, fingerprint in recorded) or "none"
                print(f"selflearn rotate-key: no day was ingested with a key of fingerprint {old} "
                      f"(recorded: {known})", file=sys.stderr)
                return 2
            rotation = declare_rotation(con, old, new)
    except IngestError as err:
        print(f"selflearn rotate-key: {err}", file=sys.stderr)
        return 2
    except duckdb.Error as err:
        print(f"selflearn rotate-key: cannot write the warehouse {settings.warehouse}: {err}", file=sys.stderr)
        return 2
    print(f"[selflearn] declared pseudonym key rotation {rotation.old_fingerprint} -> {rotation.new_fingerprint}")
    print(f"[selflearn] what it means: {rotation.meaning}")
    return 0


def cmd_forget_user(args: argparse.Namespace) -> int:
    """Forget a customer: remove everything selflearn derived from USER_ID (the id as the logs carry it,
    pseudonymised with SELFLEARN_PSEUDONYM_KEY and with each earlier key named by --old-key-env): their rows in
    every warehouse table, in the label releases (republished) and the online exports, their texts' embeddings
    (unless other users said them) and their taught preferences in the runtime log; a running `selflearn serve`
    forgets them at its next poll. The raw logs are the source system's and are not touched (lib/privacy/)."""
    from selflearn_assets.lib.privacy import ForgetRefused, forget_user
    from selflearn_assets.lib.settings import load_settings
    from selflearn_assets.lib.warehouse_lock import WarehouseLockedError

    settings = load_settings()
    _warn_default_key(settings.pseudonym_key)
    earlier = {}
    for name in args.old_key_env or []:
        if not os.environ.get(name):
            print(f"selflearn forget-user: the environment variable {name} is not set", file=sys.stderr)
            return 2
        earlier[name] = os.environ[name]
    try:
        report = forget_user(settings.home, args.user_id, settings.pseudonym_key, earlier, args.dry_run)
    except (ForgetRefused, WarehouseLockedError) as err:
        print(f"selflearn forget-user: {err}; nothing was changed", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"selflearn forget-user: {err}; run it again to finish (the warehouse was not changed)",
              file=sys.stderr)  # fmt: skip
        return 1
    for line in report.lines():
        print(f"[selflearn] {line}", file=sys.stderr if line.startswith("warning:") else sys.stdout)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="selflearn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sim = sub.add_parser("simulate", help="write simulated raw turn logs and annotations")
    sim.add_argument("--start", type=_date, default=date(2026, 11, 1))
    sim.add_argument("--days", type=int, default=3)
    sim.add_argument("--users", type=int, default=2000)
    sim.add_argument("--seed", type=int, default=7)
    sim.add_argument("--out", type=Path, default=Path("data/raw"))
    sim.add_argument(
        "--annotation-rate", type=float, help="share of sessions annotated (default 0.1; 0.3 with --corpus)"
    )
    sim.add_argument("--corpus", type=Path, help="replay real speech: a folder holding slurp/ (and clinc150/)")
    sim.add_argument(
        "--unannotated-last-days", type=int, default=0, help="with --corpus: no audit labels on the last N days"
    )
    sim.add_argument("--rewrite-table", type=Path, help="rewrites.parquet applied for the treatment arm")
    sim.add_argument("--treatment-fraction", type=float, default=0.5)
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.set_defaults(func=cmd_simulate)

    run = sub.add_parser("run", help="materialize every asset for a range of days through Dagster")
    run.add_argument("--raw-root", help="raw logs (default $SELFLEARN_RAW_ROOT or $SELFLEARN_HOME/raw)")
    run.add_argument("--start", type=_date, help="first day (default: first raw partition)")
    run.add_argument("--end", type=_date, help="last day (default: --start, or the last raw partition)")
    run.add_argument("--verbose", action="store_true", help="print Dagster's event log too")
    run.add_argument(
        "--fail-fast",
        action="store_true",
        help="stop at the first day or stage that fails or is blocked by a check (default: go on with "
        "everything that does not depend on the failure, then summarize)",
    )
    run.set_defaults(func=cmd_run)

    recover = sub.add_parser(
        "recover",
        help="release runs a crashed `selflearn run` left behind (selflearn run does it before it starts)",
        description=cmd_recover.__doc__,
    )
    recover.add_argument("--dry-run", action="store_true", help="only say what would be released")
    recover.set_defaults(func=cmd_recover)

    rewrite = sub.add_parser(
        "rewrite", help="decide requests as the online rewriter does (table, global and personal layers)",
        description=cmd_rewrite.__doc__,
    )
    rewrite.add_argument("text", nargs="+", help="the request(s), e.g. \"play maj and dragons\"")
    rewrite.add_argument("--user", help="the user id as the logs carry it (default: none, no personal layer)")
    rewrite.add_argument("--layers", type=_layers, help="comma-separated, of table,global,personal (default all)")
    rewrite.add_argument("--json", action="store_true", help="one JSON decision a line, as POST /rewrite answers")
    rewrite.add_argument("--top", type=int, default=5, help="candidates shown per request (default 5)")
    rewrite.add_argument("--date", type=_date, help="use the exports of this day or the newest before it")
    rewrite.set_defaults(func=cmd_rewrite)

    serve = sub.add_parser("serve", help="serve the online rewriter over HTTP (/rewrite, /health, /metrics)",
                           description=cmd_serve.__doc__)
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--poll-seconds", type=float, default=30.0,
                       help="how often to look for a newer (or pinned) export; 0: never (default 30)")
    serve.add_argument("--layers", type=_layers, help="comma-separated, of table,global,personal (default all)")
    serve.set_defaults(func=cmd_serve)

    teach = sub.add_parser("teach", help="teach a user a preference or concept (used from their next request)",
                           description=cmd_teach.__doc__)
    teach.add_argument("key", help="team, cuisine, news_source, music_service, any [a-z_]+ name, or concept:PHRASE")
    teach.add_argument("value", help='e.g. "Warriors", or for concept:study mode "set the desk lamp to 40%%"')
    teach.add_argument("--user", required=True, help="the user id as the logs carry it (pseudonymised when stored)")
    teach.add_argument("--event-id", help="the event it was taught in (default: a new cli-<uuid>)")
    teach.set_defaults(func=cmd_teach)

    pin = sub.add_parser("pin", help="serve the export of DATE as the newest of its kind until unpinned",
                         description=cmd_pin.__doc__)
    pin.add_argument("kind", choices=PIN_KINDS)
    pin.add_argument("date", type=_date)
    pin.set_defaults(func=cmd_pin)

    unpin = sub.add_parser("unpin", help="serve the newest export of a kind again", description=cmd_unpin.__doc__)
    unpin.add_argument("kind", choices=PIN_KINDS)
    unpin.set_defaults(func=cmd_unpin)

    rotate = sub.add_parser(
        "rotate-key",
        help="declare that the pseudonym key changes to the current SELFLEARN_PSEUDONYM_KEY",
        description=cmd_rotate_key.__doc__,
    )
    old_key = rotate.add_mutually_exclusive_group(required=True)
    old_key.add_argument("--old-fingerprint", help="fingerprint of the old key (as the refusal names it)")
    old_key.add_argument("--old-key-env", metavar="NAME", help="environment variable that holds the old key")
    rotate.set_defaults(func=cmd_rotate_key)

    forget = sub.add_parser(
        "forget-user", help="remove everything selflearn derived from one user (warehouse, exports, runtime)",
        description=cmd_forget_user.__doc__,
    )
    forget.add_argument("user_id", help="the user id as the logs carry it")
    forget.add_argument(
        "--old-key-env", metavar="NAME", action="append",
        help="environment variable holding an earlier pseudonym key (one the warehouse recorded or a rotation "
        "declared); repeat for each",
    )
    forget.add_argument("--dry-run", action="store_true", help="only report what would be removed")
    forget.set_defaults(func=cmd_forget_user)

    demo = sub.add_parser("demo", help="simulate a few days and run every asset on them (the README's main job)")
    demo.add_argument(
        "--start", type=_date, default=None,
        help="first simulated day (default: the last --days complete UTC days, so that the UI shows the "
        "partitions complete; --start 2026-11-01 is the world of the README's figures)",
    )
    demo.add_argument("--days", type=int, default=3)
    demo.add_argument("--users", type=int, default=2000)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
