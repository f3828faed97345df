"""teachable_moments and user_preferences through Dagster on a small simulated world: moments and exchanges
per day, the extractor trained on earlier days' gold, the runtime's log reconciled with what the logs show,
and one current value per (user, key) with the history kept."""

from datetime import date, timedelta

import dagster as dg
import duckdb
import polars as pl
from dagster_duckdb import DuckDBResource
from mlflow.tracking import MlflowClient

from selflearn_assets.defs.ingest.assets import annotations, raw_turns
from selflearn_assets.defs.ingest.checks import clean_turns_expectations, ingest_accounting
from selflearn_assets.defs.resources import MLflowResource, SelflearnConfig
from selflearn_assets.defs.signals.assets import defect_signals
from selflearn_assets.defs.teaching.assets import teachable_moments, user_preferences
from selflearn_assets.lib.models import tracking
from selflearn_assets.lib.online.preferences import PreferenceStore, preferences_log
from selflearn_assets.lib.online.runtime import Rewriter
from selflearn_assets.lib.simulator import SimConfig, simulate

START = date(2026, 11, 2)
DAYS = [START + timedelta(days=i) for i in range(3)]
KEY = "k"


def test_teaching_assets_over_three_days(selflearn_home):
    simulate(SimConfig(users=500, start=START, days=3, annotation_rate=0.5, seed=3), selflearn_home / "raw",
             progress=False)  # fmt: skip
    resources = {
        "duckdb": DuckDBResource(database=str(selflearn_home / "warehouse.duckdb")),
        "selflearn": SelflearnConfig(home=str(selflearn_home), raw_root=str(selflearn_home / "raw"), pseudonym_key=KEY),
        "mlflow": MLflowResource(home=str(selflearn_home)),
    }
    # a teaching through the service on the second day (the runtime's log, as `POST /teach` writes it)
    runtime = Rewriter(None, None, KEY, ("personal",), PreferenceStore.load(preferences_log(selflearn_home)))
    taught = runtime.teach("someone", "news_source", "bbc", "api-1", ts=_at(DAYS[1]))
    metas = {}
    for day in DAYS:
        result = dg.materialize(
            [raw_turns, annotations, clean_turns_expectations, ingest_accounting, defect_signals, teachable_moments,
             user_preferences],
            partition_key=day.isoformat(), resources=resources,
        )  # fmt: skip
        assert result.success
        metas[day] = {n: result.asset_materializations_for_node(n)[0].metadata for n in ("teachable_moments", "user_preferences")}  # fmt: skip
    first, last = metas[DAYS[0]], metas[DAYS[-1]]
    assert first["teachable_moments"]["moments"].value > 0 and first["teachable_moments"]["exchanges"].value > 0
    assert first["teachable_moments"]["gold_true_moments"].value > 0
    # the learned detector needs earlier gold: none on the first day, trained (and judged) on the last
    assert first["teachable_moments"]["model_detector_recall"].value == "not trained"
    assert last["teachable_moments"]["model_trained_on_moments"].value >= 5
    assert 0.0 <= last["teachable_moments"]["model_detector_recall"].value <= 1.0
    # the first day has no earlier gold: the rule baseline; later days train the span model on it
    assert first["user_preferences"]["extractor"].value == "rules"
    assert last["user_preferences"]["extractor_trained_on_turns"].value >= 5
    assert last["user_preferences"]["extractor"].value == "spans"
    assert "| spans |" in last["user_preferences"]["extraction_on_gold"].value
    # the audited uses of what was taught, before and after their teaching as the history dates it
    meta = last["user_preferences"]
    assert meta["taught_uses_before_uses"].value + meta["taught_uses_after_uses"].value > 0
    tracking.configure(selflearn_home)
    run_id = last["user_preferences"]["mlflow_run"].value.rsplit("/", 1)[-1]
    assert "spans_recall" in MlflowClient().get_run(run_id).data.metrics

    with duckdb.connect(str(selflearn_home / "warehouse.duckdb"), read_only=True) as con:
        prefs = con.sql("SELECT * FROM teaching.user_preferences WHERE day = ?", params=[DAYS[-1]]).pl()
        by_day = con.sql("SELECT day, count(*) AS n FROM teaching.user_preferences GROUP BY day ORDER BY day").pl()
        moments_days = con.sql("SELECT DISTINCT day FROM teaching.moments ORDER BY day").pl()["day"].to_list()
    assert moments_days == DAYS
    # the snapshots grow: every earlier teaching is still known
    assert by_day["n"].to_list() == sorted(by_day["n"].to_list()) and by_day["n"][0] > 0
    # one current value per (user, key); a replaced one keeps its validity
    current = prefs.filter(pl.col("current"))
    assert current.select("user_id", "key").is_unique().all()
    replaced = prefs.filter(~pl.col("current"))
    assert (replaced["valid_to"] >= replaced["valid_from"]).all()
    # the runtime's teaching, not in the logs: kept as the runtime's, from the day it was taught
    mine = prefs.filter(pl.col("event_id") == "api-1").to_dicts()
    assert [(r["user_id"], r["key"], r["value"], r["source"]) for r in mine] == [
        (taught["user_id"], "news_source", "bbc", "runtime")]  # fmt: skip
    assert set(prefs["source"]) >= {"mined", "runtime"}
    assert prefs.filter(pl.col("key").str.starts_with("concept:")).height > 0


def _at(day: date):
    from datetime import UTC, datetime

    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
