"""DATACARD.md of a label release: what the labels are, how good they are, and what they cannot tell."""

from __future__ import annotations

from selflearn_assets.lib.releases.labels import DESCRIPTIONS, LABELS


def _pct(value) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def render_datacard(manifest: dict) -> str:
    """The data card, from a complete manifest (see `publish.publish_release`)."""
    day, quality, audit = manifest["date"], manifest["quality"], manifest["audit"]
    models = manifest["models"]
    lines = [
        f"# Label release {day}",
        "",
        f"Machine-generated labels for every turn of {day} ({manifest['rows']:,} turns): goal segmentation, goal "
        "success, intent and slots by the label-generation model, and the failure point by the failure-point "
        "isolation model. Model versions (MLflow registry): "
        + "; ".join(f"{m['registered_model']} v{', v'.join(m['versions'])}" for m in models.values())
        + ".",
        "",
        "## What the labels are",
        "",
        "| column | meaning |",
        "|---|---|",
        "| event_id, session_id | the turn, as in the input logs |",
        "| goal_id | 1-based goal counter within the session (the model's segmentation, on every turn) |",
        *[f"| {label} | {DESCRIPTIONS[label]} |" for label in LABELS],
        "| <label>_confidence | the model's probability of the released value (slots: of its least sure slot) |",
        "| label_model_version, failure_point_model_version | the registry versions that produced the row |",
        "",
        "A label is released only where its confidence reaches the label's threshold; elsewhere it is null "
        "(no label, not a negative one). The confidences are kept, so a stricter consumer can raise a threshold.",
        "",
        "## Measured quality",
        "",
        f"On the audit set: {audit['turns']:,} gold-annotated turns (adjudicated by three annotators) of audit-holdout "
        f"sessions, which no model trains on, from {', '.join(audit['days'])} ({audit['source']}). Precision: "
        "share of released audit turns whose label agrees with gold (slots: the same set of name/value pairs). "
        "Coverage: share of turns released. The target is the single annotator's precision on the same turns "
        "unless a fixed target was configured.",
        "",
        "| label | threshold | precision | 95% lower bound | target | single annotator | coverage (audit) "
        "| coverage (day) | audit turns |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label in LABELS:
        q = quality[label]
        lines.append(
            f"| {label} | {_num(manifest['thresholds'][label])} | {_num(q['precision'])} "
            f"| {_num(q['precision_low_95'])} | {_num(q['target'])} ({q['target_source']}) "
            f"| {_num(q['annotator_precision'])} | {_pct(q['coverage'])} | {_pct(q['coverage_day'])} "
            f"| {q['audit_turns']} |"
        )
    lines += [
        "",
        f"Failure point, without a threshold: {_pct(quality['failure_point_pct_of_human'])} of human (model "
        "accuracy against gold divided by the single annotator's, on the same audit turns).",
        "",
        "## Gates",
        "",
        "| gate | blocking | passed | detail |",
        "|---|---|---|---|",
        *[
            f"| {r['gate']} | {'yes' if r['blocking'] else 'warning'} | {'yes' if r['passed'] else 'NO'} "
            f"| {r['description']} |"
            for r in manifest["checks"]["results"]
        ],
        "",
        "## Known limits",
        "",
        "- The thresholds are chosen on the same audit turns their precision is measured on, so the precision "
        "is optimistic, the more so with few audit turns; the 95% lower bound says how far it may fall.",
        "- The audit set is a sample of sessions of this day, or of the trailing window when the day had too "
        "few; turns of earlier days were labelled by the model versions of those days.",
        "- goal_id is the model's segmentation on every turn, also where goal_start is withheld.",
        "- Intents and slot names are those the models were trained on: a request for an intent they never saw gets the nearest known one (and counts against precision where audited).",
        "- Precision is agreement with gold annotations of the audit sample; a systematic error shared by the "
        "annotators is invisible here.",
        "",
    ]
    return "\n".join(lines)
