"""Rewrites: the absorbing-Markov rewrite table of the trailing window, and its export."""


from datetime import date

import dagster as dg
from dagster_duckdb import DuckDBResource

from selflearn_assets.defs.metadata import (
    day_metadata,
    home_relative,
    markdown_table,
    rounded,
    stage,
    table_definition,
)
from selflearn_assets.defs.partitions import daily_partitions
from selflearn_assets.defs.readable_days import log_left_out, readable_day
from selflearn_assets.defs.resources import SelflearnConfig
from selflearn_assets.defs.run_config import config_class
from selflearn_assets.lib.ingest.gates import blocked_days
from selflearn_assets.lib.markov import MarkovParams, mine_rewrites
from selflearn_assets.lib.rewrites import latest_export, read_export, write_export
from selflearn_assets.lib.rewrites.store import (
    mining_report,
    read_window,
    read_window_evidence,
    rewrites_of_day,
    write_rewrites_day,
)

PREVIEW = [
    ("source_text", "source"),
    ("rewrite_text", "rewrite"),
    ("source_success_prob", "P(success) source"),
    ("rewrite_success_prob", "P(success) rewrite"),
    ("support_users", "users"),
]


# The solver's engineering knobs stay out of run config; every threshold is run config, with the one
# default and meaning that `MarkovParams` gives it (one source of truth: the fields are generated).
_SOLVER_FIELDS = ("dense_max", "lu_max", "quadrature_nodes")


class MarkovConfig(config_class(MarkovParams, exclude=_SOLVER_FIELDS)):
    """Thresholds of the rewrite miner: the fields of `MarkovParams` but the solver's, with its defaults
    (see `selflearn_assets/lib/markov/params.py` for their meaning); `params()` is the `MarkovParams`."""


@dg.asset(
    deps=["markov_transitions", "annotations"],
    partitions_def=daily_partitions,
    **stage("rewrites"),
    kinds={"duckdb", "scipy"},
    metadata=table_definition("rewrites.markov_rewrites", "rewrites.mining_reports"),
    pool="duckdb",
)
def markov_rewrites(
    context: dg.AssetExecutionContext, config: MarkovConfig, duckdb: DuckDBResource, selflearn: SelflearnConfig
) -> dg.MaterializeResult:
    """The rewrite table of the window ending at the partition's day: for each utterance unlikely to end
    in success, the reachable reformulation most likely to, from the absorbing Markov chain over the
    window's transitions (sparse solve per component), supported by >= k distinct users; deployed
    rewrites (the previous export) are kept or dropped by the self-aware Beta-posterior rule. Days of the
    window blocked by an ingestion gate are left out (`days_left_out_as_blocked`)."""
    day = date.fromisoformat(context.partition_key)
    try:
        params = config.params()
    except ValueError as err:
        raise dg.Failure(description=str(err)) from None
    with readable_day(duckdb, day) as con:  # blocked days of the window are left out
        rows, window_start = read_window(con, day, params.window_days)
        evidence, locales = read_window_evidence(con, day, params.window_days)
        left_out = blocked_days(con, window_start, day)
    log_left_out(context, window_start, day, left_out)
    days_present = sorted(set(rows["day"].to_list())) if rows.height else []
    if not days_present:
        raise dg.Failure(
            description=f"empty window: no markov_transitions rows between {window_start} and {day}; "
            "materialize markov_transitions for those days first",
        )
    deployed_folder = latest_export(selflearn.exports_root, before=day)
    deployed = read_export(deployed_folder)[0] if deployed_folder else None
    context.log.info(
        f"window {window_start}..{day}: {len(days_present)} days with transitions, {rows.height} rows; "
        f"deployed table: {deployed_folder or 'none'}"
    )
    table, report = mine_rewrites(rows, params, deployed, evidence=evidence, locales=locales)
    report["days_left_out_as_blocked"] = [d.isoformat() for d in left_out]  # kept in the export's manifest
    mining = {
        "window_start": window_start,
        "days_with_data": len(days_present),
        "deployed_from": str(deployed_folder) if deployed_folder else None,
        "report": report,
    }
    with duckdb.get_connection() as con:
        write_rewrites_day(con, day, table, mining)
    rejected = sorted(report["n_rejected_by_reason"].items())
    return dg.MaterializeResult(
        metadata={
            **day_metadata(duckdb, "rewrites.markov_rewrites", context.partition_key, PREVIEW, limit=15),
            "window": f"{window_start}..{day}",
            "min_users": params.min_users,
            "unsafe_min_users": params.unsafe_min_users,
            "days_in_window_with_data": len(days_present),
            "days_left_out_as_blocked": dg.MetadataValue.json([d.isoformat() for d in left_out]),
            "n_states": report["n_states"],
            "n_components": report["n_components"],
            "largest_component": report["largest_component"],
            "solve_seconds": rounded(report["solve_seconds"], 2),
            "deployed_from": home_relative(deployed_folder, selflearn.home) if deployed_folder else "none",
            "rejected_by_reason": dg.MetadataValue.md(markdown_table(["reason", "candidates"], rejected)),
            "gold_evidence_turns": report["gold_evidence_turns"],
            "precision_strata": dg.MetadataValue.md(
                markdown_table(
                    ["channel", "meaning score ≥", "candidates", "right / gold turns", "stratum precision"],
                    [
                        (
                            s["channel"],
                            s["meaning_score_from"],
                            s["candidates"],
                            f"{s['gold_right']:,} / {s['gold_turns']:,}",
                            s["stratum_precision"],
                        )
                        for s in report["precision_strata"]
                    ],
                )
                if report["precision_strata"]
                else "no audit gold in the window: precision gate not applied"
            ),
            "miner_report": dg.MetadataValue.json(rounded(report)),
        }
    )


@dg.asset(
    deps=["markov_rewrites"],
    partitions_def=daily_partitions,
    **stage("rewrites"),
    kinds={"parquet"},
)
def rewrite_export(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, selflearn: SelflearnConfig
) -> dg.MaterializeResult:
    """`exports/rewrites/date=D/rewrites.parquet` + `manifest.json`: the day's rewrite table for the
    runtime, written only after the blocking checks on `markov_rewrites` passed, atomically."""
    day = date.fromisoformat(context.partition_key)
    with readable_day(duckdb, day) as con:
        table = rewrites_of_day(con, day)
        mining = mining_report(con, day)
    if mining is None:
        raise dg.Failure(description=f"no mined rewrite table for {day}; materialize markov_rewrites first")
    folder = write_export(
        selflearn.exports_root,
        day,
        table,
        {
            "kind": "markov_rewrites",
            **mining,
            "privacy": {
                "min_users": mining["report"]["params"].get("min_users"),
                "unsafe_min_users": bool(mining["report"]["params"].get("unsafe_min_users", False)),
            },
            "dagster_run_id": context.run_id,
            "asset": "rewrite_export",
        },
    )
    return dg.MaterializeResult(
        metadata={
            "path": home_relative(folder, selflearn.home),
            "absolute_path": dg.MetadataValue.path(str(folder)),
            "dagster/row_count": table.height,
            "sources_covered": table.height,
            "unsafe_min_users": bool(mining["report"]["params"].get("unsafe_min_users", False)),
        }
    )

