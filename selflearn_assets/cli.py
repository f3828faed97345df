"""`selflearn` console command: simulate logs, run every asset for a range of days, run the demo."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
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

    from selflearn_assets import runner
    from selflearn_assets.lib.ingest import RawRootError, discover_partitions
    from selflearn_assets.lib.settings import ensure_dagster_home, load_settings

    settings = load_settings()
    try:
        available = discover_partitions(settings.raw_root)
    except RawRootError as err:
        print(f"selflearn run: {err}", file=sys.stderr)
        return 2
    if not available:
        print(f"selflearn run: no date=YYYY-MM-DD partitions under {settings.raw_root}", file=sys.stderr)
        return 2
    start = args.start or available[0]
    end = args.end or (available[-1] if args.start is None else start)
    try:
        days = runner.days_between(start, end)
    except ValueError as err:
        print(f"selflearn run: {err}", file=sys.stderr)
        return 2
    missing = [d for d in days if d not in set(available)]
    if missing:
        print(
            "selflearn run: no raw partition for "
            + ", ".join(d.isoformat() for d in missing)
            + f" under {settings.raw_root}",
            file=sys.stderr,
        )
        return 2
    dagster_home = ensure_dagster_home(settings)
    if not runner.WORKSPACE_YAML.is_file():
        print(f"selflearn run: no {runner.WORKSPACE_YAML} (install selflearn from its checkout: pip install -e .)",
              file=sys.stderr)
        return 2
    from dagster._core.errors import DagsterExecutionInterruptedError

    print(f"[selflearn] raw root {settings.raw_root}; home {settings.home}; days {days[0]} .. {days[-1]}")
    try:
        # the code location `dagster dev -w workspace.yaml` shows: the runs are listed under its jobs
        location = runner.load_code_location(runner.WORKSPACE_YAML)
        with dg.DagsterInstance.get() as instance:
            report = runner.run_range(
                location, instance, days, log_level="DEBUG" if args.verbose else "WARNING", fail_fast=args.fail_fast
            )
    except (KeyboardInterrupt, DagsterExecutionInterruptedError):  # Dagster's name for Ctrl-C in user code
        print(f"\nselflearn run: interrupted; finished runs are recorded in DAGSTER_HOME={dagster_home}",
              file=sys.stderr)
        return 130
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
    print("[selflearn] open the UI: DAGSTER_HOME=" + str(dagster_home) + " dagster dev -w workspace.yaml")
    return 0


def cmd_rewrite(args: argparse.Namespace) -> int:
    from selflearn_assets.lib.rewrites import RewriteExportError, latest_export, lookup, read_export
    from selflearn_assets.lib.settings import load_settings

    exports = load_settings().exports
    folder = latest_export(exports, on_or_before=args.date) if args.date else latest_export(exports)
    if folder is None:
        print(f"selflearn rewrite: no rewrite export under {exports / 'rewrites'}; run `selflearn run` first",
              file=sys.stderr)
        return 2
    try:
        table, manifest = read_export(folder)
    except RewriteExportError as err:
        print(f"selflearn rewrite: {err}", file=sys.stderr)
        return 2
    print(f"table {folder} ({manifest.get('rows')} rewrites, window "
          f"{manifest.get('window_start')}..{manifest.get('window_end')})")
    for text in args.text:
        row = lookup(table, text)
        if row is None:
            print(f"{text!r}: no rewrite (kept as is)")
            continue
        print(f"{text!r} -> {row['rewrite_text']!r}")
        for key in ("source_success_prob", "rewrite_success_prob", "confidence", "support_users",
                    "support_sessions", "support_transitions", "target_users", "hops", "origin", "rewrite_id"):
            value = row.get(key)
            print(f"    {key:22s} {value:.3f}" if isinstance(value, float) else f"    {key:22s} {value}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from selflearn_assets.lib.settings import load_settings

    settings = load_settings()
    raw = settings.raw_root
    print(f"[selflearn] demo: simulating {args.days} days x {args.users} users into {raw}")
    sim_args = argparse.Namespace(
        seed=args.seed, users=args.users, start=args.start, days=args.days, annotation_rate=0.1,
        rewrite_table=None, treatment_fraction=0.5, out=raw, quiet=False,
    )
    cmd_simulate(sim_args)
    run_args = argparse.Namespace(raw_root=str(raw), start=None, end=None, verbose=False, fail_fast=False)
    return cmd_run(run_args)


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

    rewrite = sub.add_parser("rewrite", help="look requests up in the latest exported rewrite table")
    rewrite.add_argument("text", nargs="+", help="the request(s), e.g. \"play maj and dragons\"")
    rewrite.add_argument("--date", type=_date, help="use the table exported on or before this day")
    rewrite.set_defaults(func=cmd_rewrite)

    demo = sub.add_parser("demo", help="simulate a few days and run every asset on them (the README's main job)")
    demo.add_argument("--start", type=_date, default=date(2026, 11, 1))
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
