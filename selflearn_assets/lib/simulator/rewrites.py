"""The rewrite hook: a rewrite table (the platform's export format) and the A/B split it runs under.

For users in the treatment arm, a request whose normalised ASR text equals a table's `source_text`
reaches NLU as `rewrite_text` instead; the record keeps what ASR heard and carries `rewrite_applied`.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from selflearn_assets.lib.simulator.text import normalize_text, stable_hex, stable_unit

REQUIRED_COLUMNS = (
    "source_text",
    "rewrite_text",
    "source_success_prob",
    "rewrite_success_prob",
    "confidence",
    "support_users",
    "support_sessions",
)


def load_rewrite_table(path: Path | str) -> dict[str, tuple[str, str, str]]:
    """normalised source text -> (rewrite_id, source_text, rewrite_text); the most confident row wins."""
    table = pq.read_table(path)
    missing = [c for c in ("source_text", "rewrite_text") if c not in table.column_names]
    if missing:
        raise ValueError(f"rewrite table {path} lacks columns {missing}")
    rows = table.to_pylist()
    rows.sort(key=lambda r: -(r.get("confidence") or 0.0))
    out: dict[str, tuple[str, str, str]] = {}
    for row in rows:
        source, target = row["source_text"], row["rewrite_text"]
        if not source or not target:
            continue
        key = normalize_text(source)
        if key in out or key == normalize_text(target):
            continue
        rid = row.get("rewrite_id") or "rw-" + stable_hex(12, key, target)
        out[key] = (str(rid), source, target)
    return out


def write_rewrite_table(rows: list[dict], path: Path | str) -> Path:
    """Write rows ({source_text, rewrite_text, ...}) as a parquet in the export format; absent
    statistics are filled with neutral values. For tests and hand-made tables."""
    defaults = {
        "source_success_prob": 0.0,
        "rewrite_success_prob": 1.0,
        "confidence": 1.0,
        "support_users": 1,
        "support_sessions": 1,
    }
    full = [{**defaults, **r} for r in rows]
    for r in full:
        r.setdefault(
            "rewrite_id", "rw-" + stable_hex(12, normalize_text(r["source_text"]), r["rewrite_text"])
        )
    columns = ["rewrite_id", *REQUIRED_COLUMNS]
    table = pa.table({c: [r[c] for r in full] for c in columns})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def applied_record(rewrite: tuple) -> dict:
    """The contract's `rewrite_applied` field: (rewrite_id, source_text, rewrite_text) of a table rewrite
    (layer "table"), or with a fourth item, the online layer that chose it ("global" or "personal")."""
    rid, source, target = rewrite[:3]
    layer = rewrite[3] if len(rewrite) > 3 else "table"
    return {"rewrite_id": rid, "source_text": source, "rewrite_text": target, "layer": layer}


ONLINE_ARMS = ("control", "global", "personal")  # layers: table; table + global; table + global + personal
ARM_LAYERS = {"global": ("global",), "personal": ("global", "personal")}


def online_arm(seed: int, user_id: str) -> str:
    """The three-arm split of the online A/B: thirds of a hash of (seed, user id)."""
    return ONLINE_ARMS[min(2, int(stable_unit(seed, "ab3", user_id) * 3))]


def load_online_rewriters(bundle_folder: Path, pseudonym_key: str) -> dict:
    """arm -> the runtime's Rewriter for that arm's online layers (the table is applied by the simulator)."""
    from selflearn_assets.lib.online.bundle import load_bundle
    from selflearn_assets.lib.online.runtime import Rewriter

    bundle = load_bundle(bundle_folder)
    # taught items are the assistant's runtime's (`Assistant.runtime`), not the arms'
    return {arm: Rewriter(bundle, None, pseudonym_key, layers, teaching=False) for arm, layers in ARM_LAYERS.items()}


def in_treatment(seed: int, user_id: str, fraction: float) -> bool:
    """The A/B arm of a user: a hash of (seed, user id) below `fraction`."""
    return stable_unit(seed, "ab", user_id) < fraction
