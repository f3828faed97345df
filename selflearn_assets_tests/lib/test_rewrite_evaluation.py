"""The rewrite evaluation outside Dagster, on hand-made turns: the offline judgement and its outcome counts, which
replay is run, the A/B replay's summary, and the table and results read and written beside the export."""

import json
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
    """Control: c1 says 4 turns, 2 defective (both covered by the table); c2 2 fine turns. Treatment: t1 says 4
    turns, 1 defective, and 2 fine covered turns that the table rewrote; t2 2 fine turns. By hand: defect rate
    2/6 in control and 1/6 in treatment, a reduction of 1/2; on covered turns 2/2 against 0/2, a reduction of 1."""
    rows = [
        ("c1", "control", True, True, False),
        ("c1", "control", True, True, False),
        ("c1", "control", False, False, False),
        ("c1", "control", False, False, False),
        ("c2", "control", False, False, False),
        ("c2", "control", False, False, False),
        ("t1", "treatment", True, False, False),
        ("t1", "treatment", False, True, True),
        ("t1", "treatment", False, True, True),
        ("t1", "treatment", False, False, False),
        ("t2", "treatment", False, False, False),
        ("t2", "treatment", False, False, False),
    ]
    frame = pl.DataFrame(rows, schema=["user_id", "arm", "defective", "covered", "rewritten"], orient="row")
    return frame.with_columns(covered=pl.col("covered") & pl.col("arm").is_in(list(covered_arms)))


def test_replay_summary_by_hand():
    summary, arms = replay_summary(_turns())
    assert list(summary) == [
        "ab_replay",
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
    assert (summary["ab_replay"], summary["replay_turns"], summary["replay_rewritten_turns"]) == (
        "done",
        12,
        2,
    )
    assert summary["defect_rate_control"] == pytest.approx(1 / 3)
    assert summary["defect_rate_treatment"] == pytest.approx(1 / 6)
    assert summary["relative_reduction"] == pytest.approx(0.5)
    low, high = summary["relative_reduction_ci"]
    assert low <= high
    assert (summary["covered_turns_control"], summary["covered_turns_treatment"]) == (2, 2)
    assert (summary["defect_rate_covered_control"], summary["defect_rate_covered_treatment"]) == (1.0, 0.0)
    # every bootstrap draw with a covered control turn has rates 1 and 0: the interval is the point
    assert summary["relative_reduction_covered"] == 1.0 and summary["relative_reduction_covered_ci"] == [
        1.0,
        1.0,
    ]
    assert arms == {"all traffic": (pytest.approx(1 / 3), pytest.approx(1 / 6)), "covered": (1.0, 0.0)}


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
