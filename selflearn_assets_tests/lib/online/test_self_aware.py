"""The self-aware keep/drop rule on the online layers' rewrites: verdicts worked out by hand, drops that stay
dropped, and a dropped pair never served again through an exported bundle."""

from __future__ import annotations

from datetime import date

import polars as pl

from selflearn_assets.lib.markov.mine import rewrite_id
from selflearn_assets.lib.markov.params import MarkovParams
from selflearn_assets.lib.markov.rows import FAILURE, SUCCESS
from selflearn_assets.lib.online.build import layers_from_entries
from selflearn_assets.lib.online.bundle import load_bundle, write_bundle
from selflearn_assets.lib.online.runtime import Rewriter
from selflearn_assets.lib.online.self_aware import blocked_pairs, judge_online, verdict_counts

from .conftest import KEY

DAY = date(2026, 3, 8)
PARAMS = MarkovParams(min_trials=20, keep_threshold=0.8)
TAVIN = ("call tavin", "call tavin kessler")  # rewritten turns succeed, the user's own words do not
GAME = ("play the game", "play the games")  # the rewrite fails where the words alone work
LAMP = ("turn on lamp", "turn on the lamp")  # too few rewritten turns to judge


def _row(src, dst, n, rewritten=False, rid=None) -> dict:
    return {"day": DAY, "src": src, "dst": dst, "rewritten": rewritten, "rewrite_id": rid,
            "n_transitions": n, "n_sessions": n, "users": ["u1"]}  # fmt: skip


def _applied(pair, layer="global", source=None) -> dict:
    # the log carries the text as the user said it; the rule normalises it as a Markov state
    return {"rewrite_id": rewrite_id(*pair), "source_text": source or pair[0], "rewrite_text": pair[1],
            "layer": layer}  # fmt: skip


def _window() -> tuple[pl.DataFrame, pl.DataFrame]:
    tavin, game, lamp = (rewrite_id(*p) for p in (TAVIN, GAME, LAMP))
    rows = [
        _row(TAVIN[0], SUCCESS, 24, True, tavin), _row(TAVIN[0], FAILURE, 1, True, tavin),
        _row(TAVIN[0], SUCCESS, 5), _row(TAVIN[0], TAVIN[1], 20),  # organic: rephrased 20 of 25 times
        _row(GAME[0], SUCCESS, 2, True, game), _row(GAME[0], FAILURE, 22, True, game),
        _row(GAME[0], SUCCESS, 20), _row(GAME[0], FAILURE, 5),
        # rewritten turns of the same source without an id (days built before the column): not evidence
        # for either pattern (counted, they would make the failing rewrite look better: 102 of 124)
        _row(GAME[0], SUCCESS, 100, True, None),
        _row(LAMP[0], SUCCESS, 3, True, lamp), _row(LAMP[0], FAILURE, 30),
    ]  # fmt: skip
    applied = [
        _applied(TAVIN, "personal", source="Call Tavin!"), _applied(TAVIN, "global"), _applied(GAME),
        _applied(LAMP, "personal"),
        # a table rewrite is the miner's to judge, not this rule's
        {"rewrite_id": "t1", "source_text": "play maj and dragons", "rewrite_text": "play imagine dragons",
         "layer": "table"},
    ]  # fmt: skip
    return pl.DataFrame(rows), pl.DataFrame(applied)


def test_verdicts_by_hand():
    rows, applied = _window()
    verdicts = judge_online(rows, applied, PARAMS, DAY)
    got = {r["source_text"]: r for r in verdicts.to_dicts()}
    assert set(got) == {TAVIN[0], GAME[0], LAMP[0]}
    tavin, game, lamp = got[TAVIN[0]], got[GAME[0]], got[LAMP[0]]
    # Beta(25, 2) vs Beta(6, 21): the rewrite is better beyond doubt
    assert (tavin["rewritten_successes"], tavin["rewritten_failures"]) == (24, 1)
    assert (tavin["source_successes"], tavin["source_failures"]) == (5, 20)
    assert tavin["prob_rewrite_better"] > 0.999
    assert (tavin["decision"], tavin["reason"], tavin["layers"]) == ("keep", "better", "global,personal")
    # Beta(3, 23) vs Beta(21, 6): worse beyond doubt; the id-less rewritten rows were not counted
    assert (game["rewritten_successes"], game["rewritten_failures"]) == (2, 22)
    assert game["prob_rewrite_better"] < 0.001
    assert (game["decision"], game["reason"], game["first_dropped"]) == ("drop", "worse", DAY)
    # 3 rewritten turns < min_trials 20: kept until there is evidence
    assert (lamp["decision"], lamp["reason"], lamp["first_dropped"]) == ("keep", "insufficient_evidence", None)
    assert blocked_pairs(verdicts).rows() == [GAME]
    assert verdict_counts(verdicts) == {"patterns": 3, "better": 1, "insufficient_evidence": 1, "worse": 1,
                                        "dropped_earlier": 0}  # fmt: skip


def test_a_dropped_rewrite_stays_dropped_until_evidence_says_better():
    rows, applied = _window()
    earlier_day = date(2026, 3, 2)
    old = ("play jazz", "play jams")  # dropped a week ago; not applied since, so not in today's window
    earlier = judge_online(rows, applied, PARAMS, earlier_day)
    earlier = pl.concat([
        earlier.with_columns(  # yesterday the lamp rewrite had been judged worse
            decision=pl.when(pl.col("source_text") == LAMP[0]).then(pl.lit("drop")).otherwise("decision"),
            first_dropped=pl.when(pl.col("source_text") == LAMP[0]).then(pl.lit(earlier_day))
            .otherwise("first_dropped"),
        ),
        earlier.head(1).with_columns(rewrite_id=pl.lit(rewrite_id(*old)), source_text=pl.lit(old[0]),
                                     rewrite_text=pl.lit(old[1]), decision=pl.lit("drop"), reason=pl.lit("worse"),
                                     first_dropped=pl.lit(earlier_day)),
    ])  # fmt: skip
    today = {r["source_text"]: r for r in judge_online(rows, applied, PARAMS, DAY, earlier).to_dicts()}
    # the lamp's evidence is insufficient now (it stopped being served): it stays dropped, since the first day
    assert (today[LAMP[0]]["decision"], today[LAMP[0]]["reason"]) == ("drop", "dropped_earlier")
    assert today[LAMP[0]]["first_dropped"] == earlier_day
    # the old drop is carried with its first day; the game's drop keeps the day it was first dropped
    assert (today[old[0]]["decision"], today[old[0]]["first_dropped"]) == ("drop", earlier_day)
    assert (today[GAME[0]]["reason"], today[GAME[0]]["first_dropped"]) == ("worse", earlier_day)
    assert today[TAVIN[0]]["decision"] == "keep"


def test_nothing_applied_gives_no_verdicts_but_keeps_earlier_drops():
    rows, applied = _window()
    earlier = judge_online(rows, applied, PARAMS, DAY)
    assert judge_online(pl.DataFrame(), applied.head(0), PARAMS, DAY).height == 0
    carried = judge_online(pl.DataFrame(), applied.head(0), PARAMS, DAY, earlier)
    assert carried.select("source_text", "reason").rows() == [(GAME[0], "dropped_earlier")]


def test_a_blocked_pair_is_never_served_from_the_bundle(online_world, tmp_path):
    folder, _, built = online_world
    mishearing = ("play maj and dragons", "play imagine dragons")
    before = Rewriter.load(folder.parent.parent, KEY, online=folder).rewrite("anyone", mishearing[0])
    assert before.rewrite == mishearing[1]  # the global layer's fix, until its verdict said worse
    blocked = pl.DataFrame({"source_text": [mishearing[0]], "rewrite_text": [mishearing[1]]})
    layers = layers_from_entries(built.layers.global_entries, built.layers.personal_entries, built.encoder, blocked)
    day = date(2026, 3, 5)
    written = write_bundle(tmp_path, day, layers, built.encoder.folder, built.ranker,
                           {"pseudonym_key_fingerprint": load_bundle(folder).manifest["pseudonym_key_fingerprint"]})  # fmt: skip
    assert load_bundle(written).manifest["blocked_pairs"] == 1
    rewriter = Rewriter.load(tmp_path, KEY, online=written)
    after = rewriter.rewrite("anyone", mishearing[0])
    assert after.rewrite != mishearing[1]
    assert mishearing[1] not in {c["text"] for c in after.candidates}
    # only that pair is blocked: the other rewrites of the bundle still work
    alice = rewriter.rewrite("alice", "what's the weather in wilkerson")
    assert alice.rewrite == "what's the weather in wilkerson california"


def test_from_the_logs_through_the_warehouse(tmp_path):
    """Applied rewrites as the logs carry them -> signals -> markov_transitions -> verdicts, stored and read."""
    import duckdb

    from selflearn_assets.lib.online import store
    from selflearn_assets.lib.signals import defect_signals, markov_transitions, rephrase_candidates
    from selflearn_assets.lib.sql import run_sql
    from selflearn_assets_tests.lib.test_signals import DAY as SIGNALS_DAY
    from selflearn_assets_tests.lib.test_signals import add_turns, turn

    rid = rewrite_id(*TAVIN)
    applied = {"rewrite_id": rid, "source_text": "Call Tavin", "rewrite_text": TAVIN[1], "layer": "global"}
    turns = []
    for i in range(25):  # 25 rewritten requests that worked, 25 of the user's own words that failed
        turns.append(turn(f"r{i}", f"sr{i}", 0, "Call Tavin", "success", user=f"u{i}", rewrite_applied=applied))
        turns.append(turn(f"o{i}", f"so{i}", 0, "call tavin", "error", user=f"v{i}"))
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))  # the signals go to the lake beside it
    run_sql(con, "ingest/schema.sql")
    add_turns(con, turns)
    defect_signals(con, SIGNALS_DAY)
    rephrase_candidates(con, SIGNALS_DAY)
    markov_transitions(con, SIGNALS_DAY)
    logged, rows = store.read_applied(con, [SIGNALS_DAY])
    assert logged.height == 25 and set(logged["layer"]) == {"global"}
    verdicts = judge_online(rows, logged, PARAMS, SIGNALS_DAY)
    ((verdict),) = verdicts.to_dicts()
    assert (verdict["rewrite_id"], verdict["source_text"], verdict["rewrite_text"]) == (rid, *TAVIN)
    assert (verdict["rewritten_successes"], verdict["rewritten_failures"]) == (25, 0)
    assert (verdict["source_successes"], verdict["source_failures"]) == (0, 25)
    assert (verdict["decision"], verdict["reason"]) == ("keep", "better")
    store.write_verdicts(con, SIGNALS_DAY, verdicts)
    assert store.read_verdicts(con, SIGNALS_DAY).equals(verdicts)
    assert store.read_verdicts(con, date(2020, 1, 1)).height == 0
