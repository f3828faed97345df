"""The rewrite evaluation outside Dagster, on hand-made turns: the offline judgement and its outcome counts, which
replay is run, the A/B replay's summary, and the table and results read and written beside the export."""

import json
from collections import Counter
from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from selflearn_assets.lib.evaluation.rewrite_evaluation import (
    EMPTY_TABLE,
    NOT_SIMULATED,
    EvaluationParams,
    evaluate_rewrite_table,
    outcomes_by_failure_point,
    replay_summary,
)
from selflearn_assets.lib.evaluation.store import DeployedTable, read_deployed_table, write_evaluation
from selflearn_assets.lib.rewrites import export_folder, write_export
from selflearn_assets.lib.simulator import SimConfig

TABLE_DAY, DAY, WINDOW_START = date(2026, 11, 3), date(2026, 11, 4), date(2026, 10, 21)
PNG = b"\x89PNG\r\n\x1a\n"

# Four gold turns of DAY. By hand: "wether today" fires "weather today", understood as weather.get with no slots:
# the gold request on both turns, a win on the misheard one (e1) and neutral on the fine one (e2). "play abba"
# fires "play abbey road", understood without the gold slot artist=abba: a loss (e3). Nothing fires on "hello"
# (e4). Defective: e1 and e4; fired on one of them, fixed on one.
GOLD = pl.DataFrame(
    {
        "event_id": ["e1", "e2", "e3", "e4"],
        "asr_text": ["Wether today", "wether today", "play ABBA", "hello"],
        "failure_point": ["asr", "correct", "correct", "nlu"],
        "intended_text": ["weather today", "wether today", "play abba", "hello there"],
        "gold_intent": ["weather.get", "weather.get", "music.play", "general.greet"],
        "gold_slots": ["", "", "artist=abba", ""],
    }
)
TABLE = pl.DataFrame(
    {"source_text": ["wether today", "play abba"], "rewrite_text": ["weather today", "play abbey road"]}
)
MEANINGS = pl.DataFrame(
    {
        "norm_text": ["weather today", "play abbey road"],
        "intent": ["weather.get", "music.play"],
        "slots": ["", "album=abbey road"],
    }
)


def _deployed(table: pl.DataFrame = TABLE) -> DeployedTable:
    """The table as exported for TABLE_DAY (not on disk: only a replay reads the file)."""
    return DeployedTable(
        export_folder("/nowhere", TABLE_DAY), table, {"window_start": "2026-10-21"}, TABLE_DAY
    )


def test_offline_only_when_the_raw_root_has_no_simulator(tmp_path):
    evaluation = evaluate_rewrite_table(_deployed(), DAY, GOLD, MEANINGS, None, tmp_path, EvaluationParams())
    assert evaluation.result == {
        "table_date": TABLE_DAY,
        "evaluated_on": DAY,
        "rewrites": 2,
        "gold_turns": 4,
        "gold_defective": 2,
        "fired": 3,
        "wins": 1,
        "losses": 1,
        "neutral": 1,
        "coverage": 0.5,
        "win_coverage": 0.5,
        "win_loss": 1.0,
        "ab_replay": NOT_SIMULATED,
    }
    assert list(evaluation.result)[:3] == ["table_date", "evaluated_on", "rewrites"]
    assert evaluation.outcomes == {"asr": {"win": 1}, "correct": {"neutral": 1, "loss": 1}}
    assert evaluation.arms == {}
    assert evaluation.chart.startswith(PNG)


def test_the_replay_is_off_or_skipped_for_an_empty_table(tmp_path):
    off = evaluate_rewrite_table(
        _deployed(), DAY, GOLD, MEANINGS, None, tmp_path, EvaluationParams(ab_replay=False)
    )
    assert off.result["ab_replay"] == "off"
    empty = evaluate_rewrite_table(
        _deployed(TABLE.clear()), DAY, GOLD, MEANINGS, SimConfig(), tmp_path, EvaluationParams()
    )
    assert empty.result["ab_replay"] == EMPTY_TABLE
    assert (empty.result["rewrites"], empty.result["fired"], empty.result["win_loss"]) == (0, 0, None)
    assert empty.outcomes == {}


def test_outcomes_count_fired_turns_by_gold_failure_point():
    judged = pl.DataFrame(
        {
            "failure_point": ["asr", "asr", "nlu", "correct", "correct"],
            "outcome": ["win", "win", "loss", None, "neutral"],
        }
    )
    assert outcomes_by_failure_point(judged) == {
        "asr": {"win": 2},
        "nlu": {"loss": 1},
        "correct": {"neutral": 1},
    }


def _turns(covered_arms=("control", "treatment")) -> pl.DataFrame:
    """A counterfactual replay: u1 and u2 live the day in both arms. Control: u1 says 4 turns, 2 defective (both
    covered by the table); u2 2 fine turns. Treatment: the table rewrites and fixes u1's 2 covered turns, and u1's
    day goes on into 1 defective turn and a fine one; u2 says the same 2 fine turns. By hand: defect rate 2/6 in
    control and 1/6 in treatment, a reduction of 1/2; on covered turns 2/2 against 0/2, a reduction of 1."""
    rows = [
        ("u1", "control", True, True, False),
        ("u1", "control", True, True, False),
        ("u1", "control", False, False, False),
        ("u1", "control", False, False, False),
        ("u2", "control", False, False, False),
        ("u2", "control", False, False, False),
        ("u1", "treatment", True, False, False),
        ("u1", "treatment", False, True, True),
        ("u1", "treatment", False, True, True),
        ("u1", "treatment", False, False, False),
        ("u2", "treatment", False, False, False),
        ("u2", "treatment", False, False, False),
    ]
    frame = pl.DataFrame(rows, schema=["user_id", "arm", "defective", "covered", "rewritten"], orient="row")
    return frame.with_columns(covered=pl.col("covered") & pl.col("arm").is_in(list(covered_arms)))


def test_replay_summary_by_hand():
    summary, arms = replay_summary(_turns())
    assert list(summary) == [
        "ab_replay",
        "replay_users",
        "replay_turns",
        "replay_rewritten_turns",
        "defect_rate_control",
        "defect_rate_treatment",
        "relative_reduction",
        "relative_reduction_ci",
        "covered_turns_control",
        "covered_turns_treatment",
        "defect_rate_covered_control",
        "defect_rate_covered_treatment",
        "relative_reduction_covered",
        "relative_reduction_covered_ci",
    ]
    assert (summary["ab_replay"], summary["replay_users"], summary["replay_turns"]) == ("done", 2, 12)
    assert summary["replay_rewritten_turns"] == 2
    assert summary["defect_rate_control"] == pytest.approx(1 / 3)
    assert summary["defect_rate_treatment"] == pytest.approx(1 / 6)
    assert summary["relative_reduction"] == pytest.approx(0.5)
    # paired draws weight u1 alike in both arms: with weights w1 > 0, w2 the rates are 2w1 / (4w1 + 2w2) and
    # w1 / (4w1 + 2w2), a reduction of exactly 1/2 in every draw
    assert summary["relative_reduction_ci"] == [pytest.approx(0.5), pytest.approx(0.5)]
    assert (summary["covered_turns_control"], summary["covered_turns_treatment"]) == (2, 2)
    assert (summary["defect_rate_covered_control"], summary["defect_rate_covered_treatment"]) == (1.0, 0.0)
    # every bootstrap draw with a covered control turn has rates 1 and 0: the interval is the point
    assert summary["relative_reduction_covered"] == 1.0 and summary["relative_reduction_covered_ci"] == [
        1.0,
        1.0,
    ]
    assert arms == {"all traffic": (pytest.approx(1 / 3), pytest.approx(1 / 6)), "covered": (1.0, 0.0)}


def test_the_paired_interval_is_narrower_than_unpaired_draws_of_the_same_turns():
    """The same turns as `test_replay_summary_by_hand`: paired, every draw gives 1/2; drawn independently per
    arm, a draw that weights u1 more in one arm than in the other moves the reduction, so the interval widens
    around 1/2. Asking for a paired comparison of different users is an error, not an unpaired one."""
    from selflearn_assets.lib.evaluation.ab_stats import compare_arms

    turns = _turns()
    paired, unpaired = compare_arms(turns, seed=0), compare_arms(turns, seed=0, paired=False)
    assert paired.relative_reduction == unpaired.relative_reduction == pytest.approx(0.5)
    assert paired.interval == (pytest.approx(0.5), pytest.approx(0.5))
    assert unpaired.interval[0] < 0.5 - 0.1 and unpaired.interval[1] > 0.5 + 0.1
    assert compare_arms(turns, seed=0, paired=True) == paired
    other_users = turns.with_columns(
        user_id=pl.when(pl.col("arm") == "treatment").then("t" + pl.col("user_id")).otherwise("user_id")
    )
    assert compare_arms(other_users, seed=0) == unpaired  # different users: drawn independently
    with pytest.raises(ValueError, match="the same users"):
        compare_arms(other_users, seed=0, paired=True)


def test_covered_turns_in_one_arm_only_are_not_compared():
    summary, arms = replay_summary(_turns(covered_arms=("control",)))
    assert summary["covered_replay"] == "skipped: covered turns only in arm(s) ['control']"
    assert "relative_reduction_covered" not in summary and list(arms) == ["all traffic"]


def test_the_deployed_table_and_the_results_beside_it(tmp_path):
    assert read_deployed_table(tmp_path, TABLE_DAY) is None
    folder = write_export(tmp_path, TABLE_DAY, TABLE, {"window_start": WINDOW_START})
    deployed = read_deployed_table(tmp_path, TABLE_DAY)
    assert deployed.folder == folder and deployed.day == TABLE_DAY
    assert deployed.table.equals(TABLE) and deployed.path == folder / "rewrites.parquet"
    assert deployed.window_start == WINDOW_START  # written as text in the manifest
    assert read_deployed_table(tmp_path, DAY) is None
    result = {"table_date": TABLE_DAY, "wins": 1, "win_loss": None, "relative_reduction_ci": [0.1, 0.2]}
    write_evaluation(folder, result, PNG + b"chart")
    assert json.loads((folder / "evaluation.json").read_text()) == {
        "table_date": "2026-11-03",
        "wins": 1,
        "win_loss": None,
        "relative_reduction_ci": [0.1, 0.2],
    }
    assert (folder / "evaluation.png").read_bytes() == PNG + b"chart"
    assert sorted(p.name for p in folder.iterdir()) == [
        "evaluation.json",
        "evaluation.png",
        "manifest.json",
        "rewrites.parquet",
    ]


def test_ab_intervals_are_repeatable_for_a_seed():
    import polars as pl

    from selflearn_assets.lib.evaluation.ab_stats import compare_arms

    turns = pl.DataFrame(
        {
            "user_id": [f"u{i % 40}" for i in range(400)],
            "arm": ["control" if i % 40 < 20 else "treatment" for i in range(400)],
            "defective": [(i * 7) % 5 == 0 for i in range(400)],
        }
    )
    first, second = compare_arms(turns, seed=3), compare_arms(turns.reverse(), seed=3)
    assert first == second


def test_the_same_users_in_both_arms_are_compared_paired():
    """A counterfactual replay: every user lives the day in both arms. Users differ a lot (u0..u9 fail half
    their turns, the others never); the treatment fixes one failing turn of each of u0..u4 (20 -> 15 defects
    of 200 turns per arm: reduction 0.25). Paired draws reweight a user in both arms alike, so every draw
    sees a reduction and the interval stays above 0; unpaired draws of such different users would often not."""
    import polars as pl

    from selflearn_assets.lib.evaluation.ab_stats import compare_arms

    rows = []
    for arm in ("control", "treatment"):
        for u in range(50):
            for t in range(4):
                failing = u < 10 and t < 2 and not (arm == "treatment" and u < 5 and t == 0)
                rows.append({"user_id": f"u{u}", "arm": arm, "defective": failing})
    c = compare_arms(pl.DataFrame(rows), seed=1)
    assert c.relative_reduction == pytest.approx(0.25)
    assert 0.0 < c.interval[0] <= 0.25 <= c.interval[1] < 0.6


# The counterfactual replay on a small simulated world: DAY of 400 users, lived once per arm.
REPLAY_WORLD = SimConfig(seed=5, users=400, start=DAY, days=1, annotation_rate=0.1)


def _misheard_requests(out) -> list[dict]:
    """DAY of REPLAY_WORLD simulated with every session annotated, as the replay does: each text ASR misheard
    (normalised, as the miner writes a source) -> what its user meant, the 10 said most first."""
    import orjson

    from selflearn_assets.lib.markov import normalize_utterance
    from selflearn_assets.lib.simulator import simulate

    simulate(replace(REPLAY_WORLD, annotation_rate=1.0), out, progress=False)
    said = {}
    for f in out.glob("date=*/*.jsonl"):
        for line in f.read_bytes().splitlines():
            rec = orjson.loads(line)
            said[rec["event_id"]] = normalize_utterance(rec["asr_text"])
    gold: dict[str, dict] = {}
    for f in out.glob("annotations/date=*/*.jsonl"):
        for line in f.read_bytes().splitlines():
            row = orjson.loads(line)
            if row["annotator"] == "gold":
                gold.setdefault(row["event_id"], {})[row["task"]] = row["label"]
    pairs = Counter(
        (said[e], g["intended_text"]) for e, g in gold.items() if g["failure_point"] == "asr" and said[e]
    )
    return [{"source_text": s, "rewrite_text": t} for (s, t), _ in pairs.most_common(10) if s != t]


@pytest.fixture(scope="module")
def replays(tmp_path_factory):
    """(turns with an empty table, turns with a table of the day's most said mishearings, that table's rows,
    its path)."""
    from selflearn_assets.lib.evaluation.rewrite_replay import replay_counterfactual
    from selflearn_assets.lib.simulator import write_rewrite_table

    tmp = tmp_path_factory.mktemp("replay")
    rows = _misheard_requests(tmp / "day")
    empty = write_rewrite_table([], tmp / "empty.parquet")
    fixes = write_rewrite_table(rows, tmp / "fixes" / "rewrites.parquet")
    return (
        replay_counterfactual(REPLAY_WORLD, DAY, empty),
        replay_counterfactual(REPLAY_WORLD, DAY, fixes),
        rows,
        fixes,
    )


def _table(turns: pl.DataFrame) -> pl.Series:
    """Which turns the table rewrote (the runtime also rewrites what users taught, in every arm alike)."""
    return turns["rewritten"] & (turns["layer"] == "table")


def _arm(turns: pl.DataFrame, arm: str) -> pl.DataFrame:
    return turns.filter(pl.col("arm") == arm).drop("arm").sort(pl.all())


def test_an_empty_table_leaves_the_two_arms_identical(replays):
    """Nothing can fire: the same users live the very same day twice, so the arms have the same turns, the
    treatment/control ratio is exactly 1 and every paired draw says so (the interval collapses on it)."""
    from selflearn_assets.lib.evaluation.ab_stats import compare_arms

    empty, *_ = replays
    control, treatment = _arm(empty, "control"), _arm(empty, "treatment")
    assert control.height > 1000 and control.equals(treatment)
    assert not _table(empty).any() and not empty["covered"].any()
    c = compare_arms(empty, seed=0, paired=True)
    assert c.defect_rate_treatment / c.defect_rate_control == 1.0
    assert c.relative_reduction == 0.0 and c.interval == (0.0, 0.0)


def test_a_table_that_fixes_known_mishearings_lowers_only_the_treatment_arm(replays):
    """The table maps the day's most said misheard texts to what was meant. Control never sees it: its turns
    are those of the empty-table replay, one for one. Treatment is rewritten there (and only there) and fails
    less; each user is in both arms, so the paired interval is narrower than unpaired draws of the same turns,
    and above 0."""
    from selflearn_assets.lib.evaluation.ab_stats import compare_arms

    empty, fixes, rows, _ = replays
    assert len(rows) >= 3
    assert _arm(fixes, "control").drop("covered").equals(_arm(empty, "control").drop("covered"))
    assert _arm(fixes, "control")["covered"].sum() >= len(rows)  # the misheard texts are said in control
    assert not _table(_arm(fixes, "control")).any()
    treatment = _arm(fixes, "treatment")
    assert _table(treatment).sum() >= len(rows)
    assert treatment.filter(_table(treatment))["covered"].all()
    assert set(_arm(fixes, "control")["user_id"]) == set(treatment["user_id"])
    paired = compare_arms(fixes, seed=0, paired=True)
    assert paired.defect_rate_control == compare_arms(empty, seed=0).defect_rate_control
    assert paired.defect_rate_treatment < paired.defect_rate_control and paired.relative_reduction > 0
    covered = compare_arms(fixes.filter(pl.col("covered")), seed=0)
    assert covered.defect_rate_treatment < 0.5 < covered.defect_rate_control
    unpaired = compare_arms(fixes, seed=0, paired=False)
    assert paired.interval[1] - paired.interval[0] < unpaired.interval[1] - unpaired.interval[0]
    assert 0 < paired.interval[0] <= paired.relative_reduction <= paired.interval[1]


def test_the_evaluation_replays_the_day_as_a_counterfactual(replays, tmp_path):
    """Through `evaluate_rewrite_table` on the simulated world: the replay's numbers are those of the two arms
    above (control the very day without the table), over the users who live it in both."""
    _, fixes, rows, path = replays
    table = pl.read_parquet(path)
    deployed = DeployedTable(path.parent, table, {"window_start": "2026-10-21"}, TABLE_DAY)
    params = EvaluationParams()
    result = evaluate_rewrite_table(deployed, DAY, GOLD, MEANINGS, REPLAY_WORLD, tmp_path, params).result
    assert result["ab_replay"] == "done" and result["rewrites"] == len(rows)
    summary, _ = replay_summary(fixes)
    assert {k: result[k] for k in summary} == summary
    assert result["replay_users"] == fixes.filter(pl.col("arm") == "control")["user_id"].n_unique()
    assert result["replay_turns"] == fixes.height and result["relative_reduction_ci"][0] > 0
