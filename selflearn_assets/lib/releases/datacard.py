"""DATACARD.md of a label release: what the labels are, how good they are, and what they cannot tell."""

from __future__ import annotations

from selflearn_assets.lib.releases.labels import DESCRIPTIONS, LABELS


def _pct(value) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _gold_lines(gold: dict | None) -> list[str]:
    """The data card's gold check section, from the manifest's `gold` (see `gold.gold_section`)."""
    if not gold:
        return []
    rows = []
    for label, g in gold["labels"].items():
        previous = _num(g["previous"]) + (f" ({g['previous_day']})" if g["previous_day"] else "")
        rows.append(f"| {label} | {_num(g['agreement'])} | {g['turns']} | {previous} | {g['verdict']} |")
    return [
        "",
        "## Gold check",
        "",
        "Agreement of the audit gold with the single annotator on the audit turns that have both (slots: mean "
        "Jaccard overlap of the (name, value) pairs; other labels: exact match). The day is blocked when a label "
        f"is under {gold['agreement_floor']:.2f} or fell more than {gold['agreement_drop_max']:.2f} from the "
        f"last published release's; with under {gold['min_turns']} turns a label is not judged.",
        "",
        "| label | agreement | turns | previous (release) | verdict |",
        "|---|---|---|---|---|",
        *rows,
    ]


def render_datacard(manifest: dict) -> str:
    """The data card, from a complete manifest (see `publish.publish_release`)."""
    day, quality, audit = manifest["date"], manifest["quality"], manifest["audit"]
    models, withheld = manifest["models"], manifest.get("withheld", {})
    cross_fit = any(quality[label].get("split") == "A/B" for label in LABELS)
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
        "## Withheld labels",
        "",
        *(
            [
                "These labels did not pass their gate today and are null on every turn of this release "
                "(their confidences are kept):",
                "",
                *[f"- **{label}**: {reason}" for label, reason in withheld.items()],
            ]
            if withheld
            else ["None: every label is released."]
        ),
        "",
        "## Measured quality",
        "",
        f"On the audit set: {audit['turns']:,} gold-annotated turns (adjudicated by three annotators) of audit-holdout "
        f"sessions, which no model trains on, from {', '.join(audit['days'])} ({audit['source']}). Precision: "
        "share of released audit turns whose label agrees with gold (slots: the same set of name/value pairs). "
        "Coverage: share of turns at or over the threshold (released unless the label is withheld). The target "
        "is the single annotator's precision on the same turns unless a fixed target was configured, raised to "
        "the label's precision floor when under it (target source `floor`): the annotator is measured against "
        "the same gold, so bad gold would lower the target together with the precision.",
        *(
            [
                "",
                "Precision floors: "
                + ", ".join(f"{label} {_num(quality[label].get('precision_floor'))}" for label in LABELS)
                + ".",
            ]
            if any(quality[label].get("precision_floor") is not None for label in LABELS)
            else []
        ),
        *(
            [
                "",
                "Cross-fitted: the audit sessions are split in two halves by a hash of the session id; each "
                "threshold is chosen on half A (precision, its lower bound and coverage (audit) are on A) and "
                "its precision is measured again on half B, which played no part in the choice (held-out "
                "precision and its 95% lower bound: the honest figures).",
            ]
            if cross_fit
            else []
        ),
        "",
        "| label | status | threshold | precision | 95% lower bound | held-out precision | held-out 95% lower "
        "bound | target | single annotator | coverage (audit) | coverage (day) | audit turns |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label in LABELS:
        q = quality[label]
        lines.append(
            f"| {label} | {q.get('status', 'released')} | {_num(manifest['thresholds'][label])} "
            f"| {_num(q['precision'])} | {_num(q['precision_low_95'])} "
            f"| {_num(q.get('precision_heldout'))} | {_num(q.get('precision_heldout_low_95'))} "
            f"| {_num(q['target'])} ({q['target_source']}) "
            f"| {_num(q['annotator_precision'])} | {_pct(q['coverage'])} | {_pct(q['coverage_day'])} "
            f"| {q['audit_turns']} |"
        )
    lines += [
        "",
        f"Failure point, without a threshold: {_pct(quality['failure_point_pct_of_human'])} of human (model "
        "accuracy against gold divided by the single annotator's, on the same audit turns).",
        *_gold_lines(manifest.get("gold")),
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
        (
            "- The held-out precision is measured on half of the audit sessions only, so its lower bound is wide "
            "with few audit turns; the threshold is chosen on the other half, with half the data."
            if cross_fit
            else "- The thresholds are chosen on the same audit turns their precision is measured on, so the "
            "precision is optimistic, the more so with few audit turns; the 95% lower bound says how far it may "
            "fall (`cross_fit: true` measures it on a held-out half)."
        ),
        "- The audit set is a sample of sessions of this day, or of the trailing window when the day had too "
        "few; turns of earlier days were labelled by the model versions of those days.",
        "- goal_id is the model's segmentation on every turn, also where goal_start is withheld.",
        "- Intents and slot names are those the models were trained on: a request for an intent they never saw gets the nearest known one (and counts against precision where audited).",
        "- Precision is agreement with gold annotations of the audit sample; a systematic error shared by the "
        "annotators is invisible here.",
        "- The gold check compares the gold with one single annotator: a change that moves both the same way "
        "passes it, and a label with few audit turns is not judged.",
        "",
    ]
    return "\n".join(lines)
