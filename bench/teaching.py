"""Teaching in the simulated world, per preference key: extraction precision / recall of (user, key, value) on the
training days and on the held-out day's unseen phrasings, and how the requests that rely on a taught preference
fare before and after the user taught it; beside it, what the ambient preferences (news source, music service) and
preference changes cost the world's defect rate and the simulator's throughput.

    .venv/bin/python bench/teaching.py                 # 4 days x 2,000 users, every session audited, seed 7
    .venv/bin/python bench/teaching.py --users 500 --days 3

Preference extraction is what both of `user_preferences`' extractors do for a preference the assistant understood
(`lib/teaching/extract.py`: `from_slots` on the logged intent and slots, the rule baseline and the span model
alike), run on the logs' preference turns; it is judged against the gold `preference` labels of the audited turns.
Concepts are left out: their span model needs the defect model's signals (the assets; the README's concept figures
come from them). "Taught" here is the truth's (the user's first teaching turn the gold marks correct), not the
reconciled history the asset dates it by.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from dataclasses import replace
from datetime import date
from pathlib import Path

import orjson
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selflearn_assets.lib.markov.normalize import normalize_utterance  # noqa: E402
from selflearn_assets.lib.simulator import SimConfig, simulate, world_of  # noqa: E402
from selflearn_assets.lib.teaching.extract import RuleExtractor, precision_recall  # noqa: E402

KEYS = ("team", "cuisine", "news_source", "music_service")
TAUGHT_OFF = {"news_source_share": 0.0, "music_service_share": 0.0, "preference_change_share": 0.0}


def load(root: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    turns, gold = {}, defaultdict(dict)
    for path in sorted(root.glob("date=*/*.jsonl")):
        for line in path.read_bytes().splitlines():
            rec = orjson.loads(line)
            turns[rec["event_id"]] = rec
    for path in sorted(root.glob("annotations/date=*/*.jsonl")):
        for line in path.read_bytes().splitlines():
            row = orjson.loads(line)
            if row["annotator"] == "gold":
                gold[row["event_id"]][row["task"]] = row["label"]
    return turns, gold


def extraction(turns: dict, gold: dict, days: set[str]) -> dict[str, dict]:
    """Per key: precision / recall of (event, key, value) on the audited preference turns of `days`."""
    rows = [
        {"day": date.fromisoformat(r["ts"][:10]), "event_id": e, "user_id": r["user_id"],
         "norm_text": normalize_utterance(r["asr_text"]), "asked_name": None,
         "intent": f"{r['nlu_domain']}.{r['nlu_intent']}", "slots": r["nlu_slots"]}
        for e, r in turns.items()
        if r["ts"][:10] in days and (r["nlu_domain"] or "") == "preferences"
    ]  # fmt: skip
    found = RuleExtractor().extract(pl.DataFrame(rows, infer_schema_length=None)) if rows else None
    annotated = {e for e in gold if turns[e]["ts"][:10] in days}
    out = {}
    for key in KEYS:
        truth = {
            e: (key, normalize_utterance(g["preference"]["value"]))
            for e, g in gold.items()
            if e in annotated and "preference" in g and g["preference"]["key"] == key
        }
        mine = (
            found.filter(pl.col("key") == key)
            if found is not None
            else pl.DataFrame(schema={"event_id": pl.String, "key": pl.String, "value": pl.String})
        )
        out[key] = precision_recall(mine, truth, annotated)
    return out


def uses(turns: dict, gold: dict) -> dict[str, dict]:
    """Per key: requests relying on the preference (gold `preference_use`) and their success before / after the
    user's first correct teaching of it, and the first use after."""
    order = sorted(gold, key=lambda e: (turns[e]["ts"], e))
    taught, out = {}, {k: {"before": [0, 0], "after": [0, 0], "first_after": [0, 0]} for k in KEYS}
    seen = set()
    for e in order:
        g, user = gold[e], turns[e]["user_id"]
        if "preference" in g and g["failure_point"] == "correct":
            taught.setdefault((user, g["preference"]["key"]), e)
        key = g.get("preference_use")
        if key in out:
            ok = g["failure_point"] == "correct"
            side = "after" if (user, key) in taught else "before"
            out[key][side][0] += 1
            out[key][side][1] += ok
            if side == "after" and (user, key) not in seen:
                seen.add((user, key))
                out[key]["first_after"][0] += 1
                out[key]["first_after"][1] += ok
    return out


def _f(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def _share(n_ok: list[int]) -> str:
    n, ok = n_ok
    return f"{ok}/{n} ({ok / n:.0%})" if n else "0/0"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--days", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    cfg = SimConfig(
        seed=args.seed, users=args.users, start=date(2026, 3, 1), days=args.days, annotation_rate=1.0
    )
    world_of(cfg)  # built once (cached), outside the timed runs
    with tempfile.TemporaryDirectory() as tmp:
        on = simulate(cfg, Path(tmp) / "on", progress=False)
        off = simulate(replace(cfg, **TAUGHT_OFF), Path(tmp) / "off", progress=False)
        turns, gold = load(Path(tmp) / "on")
    days = sorted({r["ts"][:10] for r in turns.values()})
    heldout = set(days[len(days) - cfg.teaching_heldout_days :])
    train = set(days) - heldout
    print(f"world: {args.users:,} users x {args.days} days, seed {args.seed}, every session audited; "
          f"held-out day(s): {', '.join(sorted(heldout))}")  # fmt: skip
    print(f"defect rate: {on.defect_rate:.4f} with news sources, music services and changes; "
          f"{off.defect_rate:.4f} without (news_source_share, music_service_share, preference_change_share 0)")  # fmt: skip
    print(f"simulator: {on.turns_per_second:,.0f} turns/s ({on.turns:,} turns) vs {off.turns_per_second:,.0f} "
          f"({off.turns:,}) without (one run each; the machine is shared)")  # fmt: skip
    print("\n| key | extraction, training days: precision / recall (gold) | held-out day | uses before teaching "
          "succeed | after | first use after |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    ex_train, ex_held, used = (
        extraction(turns, gold, train),
        extraction(turns, gold, heldout),
        uses(turns, gold),
    )
    for key in KEYS:
        a, b, u = ex_train[key], ex_held[key], used[key]
        print(f"| `{key}` | {_f(a['precision'])} / {_f(a['recall'])} ({a['gold']}) | {_f(b['precision'])} / "
              f"{_f(b['recall'])} ({b['gold']}) | {_share(u['before'])} | {_share(u['after'])} | "
              f"{_share(u['first_after'])} |")  # fmt: skip


if __name__ == "__main__":
    main()
