"""`selflearn rewrite`, `selflearn pin` and `selflearn unpin` on the hand-made world (conftest), and what a pin
moves: the runtime's choice (`serving_export`, `serving_bundle`), never the assets' (`latest_export`)."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from selflearn_assets import cli
from selflearn_assets.lib.export_pins import PIN_FILE, PinError, read_pin
from selflearn_assets.lib.online.bundle import latest_bundle, serving_bundle
from selflearn_assets.lib.online.runtime import Rewriter
from selflearn_assets.lib.rewrites.export import RewriteExportError, latest_export, serving_export

from .conftest import KEY
from .serving_world import BUNDLE_DAY, KITCHEN, copy_bundle, write_table

D3, D5 = date(2026, 3, 3), date(2026, 3, 5)


@pytest.fixture
def exports(online_world, tmp_path, monkeypatch) -> Path:
    """SELFLEARN_HOME with the bundle of BUNDLE_DAY and tables of D3 and BUNDLE_DAY."""
    home = tmp_path / "home"
    monkeypatch.setenv("SELFLEARN_HOME", str(home))
    monkeypatch.setenv("SELFLEARN_PSEUDONYM_KEY", KEY)
    root = home / "exports"
    copy_bundle(online_world[0], root, BUNDLE_DAY)
    write_table(root, D3, "turn on the kitchen lamp", support_users=5)
    write_table(root, BUNDLE_DAY, "turn on the kitchen lights", support_users=7)
    return root


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_rewrite_json_is_the_runtimes_decision(exports, capsys):
    text = "What's the weather in Wilkerson?"
    assert cli.main(["rewrite", "--user", "alice", "--json", text, "play maj and dragons"]) == 0
    alice, maj = _json_lines(capsys.readouterr().out)
    assert (alice["rewrite"], alice["layer"]) == ("what's the weather in wilkerson california", "personal")
    assert (maj["rewrite"], maj["layer"]) == ("play imagine dragons", "global")
    direct = Rewriter.load(exports, KEY).rewrite("alice", text).as_dict()
    assert alice == json.loads(json.dumps(direct))


def test_rewrite_prints_the_decision_layer_score_and_candidates(exports, capsys):
    argv = ["rewrite", "--user", "bob", "play maj and dragons", KITCHEN, "play we don't talk anymore"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "table " + str(exports / "rewrites" / "date=2026-03-04") in out.splitlines()[0]
    assert "'play maj and dragons' -> 'play imagine dragons' (layer global, score " in out
    assert f"'{KITCHEN}' -> 'turn on the kitchen lights' (layer table, score 0.900)" in out
    assert "    support_users          7" in out  # the table's row, as before
    assert '"play we don\'t talk anymore": no rewrite (' in out  # repr() quotes it with "
    assert "    candidate " in out


def test_rewrite_layers_and_date(exports, capsys):
    assert cli.main(["rewrite", "--layers", "table", "--json", "play maj and dragons", KITCHEN]) == 0
    maj, kitchen = _json_lines(capsys.readouterr().out)
    assert maj["rewrite"] is None and maj["candidates"] == []
    assert (kitchen["rewrite"], kitchen["layer"]) == ("turn on the kitchen lights", "table")
    # on 2026-03-03 there was that day's table and no online bundle yet
    assert cli.main(["rewrite", "--date", "2026-03-03", "--json", "play maj and dragons", KITCHEN]) == 0
    maj, kitchen = _json_lines(capsys.readouterr().out)
    assert maj["rewrite"] is None and maj["reason"] == "no table match; no online layer loaded"
    assert kitchen["rewrite"] == "turn on the kitchen lamp"


def test_rewrite_refusals(exports, tmp_path, monkeypatch, capsys):
    assert cli.main(["rewrite", "--layers", "table,bogus", "hi"]) == 2
    assert "unknown layer(s) bogus" in capsys.readouterr().err
    monkeypatch.setenv("SELFLEARN_HOME", str(tmp_path / "nothing"))
    assert cli.main(["rewrite", "hi"]) == 2
    assert "no online bundle and no rewrite table under" in capsys.readouterr().err


def test_pin_and_unpin_move_the_runtimes_choice_only(exports, capsys):
    assert cli.main(["pin", "rewrites", "2026-03-03"]) == 0
    out = capsys.readouterr().out
    assert (
        "pinned rewrites to 2026-03-03" in out and "1 newer rewrites export(s) (the newest 2026-03-04)" in out
    )
    assert (exports / "rewrites" / PIN_FILE).read_text() == "2026-03-03\n"
    assert serving_export(exports) == exports / "rewrites" / "date=2026-03-03"
    # the assets' view is unchanged: the self-aware keep rule still reads the export deployed before a day
    assert latest_export(exports) == exports / "rewrites" / "date=2026-03-04"
    assert latest_export(exports, before=D5) == exports / "rewrites" / "date=2026-03-04"
    assert cli.main(["rewrite", "--json", KITCHEN]) == 0
    assert json.loads(capsys.readouterr().out)["rewrite"] == "turn on the kitchen lamp"

    assert cli.main(["unpin", "rewrites"]) == 0
    assert (
        "unpinned rewrites (was 2026-03-03); serving the newest export: 2026-03-04" in capsys.readouterr().out
    )
    assert not (exports / "rewrites" / PIN_FILE).exists()
    assert cli.main(["rewrite", "--json", KITCHEN]) == 0
    assert json.loads(capsys.readouterr().out)["rewrite"] == "turn on the kitchen lights"
    assert cli.main(["unpin", "rewrites"]) == 0
    assert "rewrites was not pinned" in capsys.readouterr().out


def test_pin_online_holds_an_older_bundle(exports, online_world, capsys):
    copy_bundle(online_world[0], exports, D5)
    assert serving_bundle(exports) == exports / "online" / "date=2026-03-05"
    assert cli.main(["pin", "online", "2026-03-04"]) == 0
    assert read_pin(exports / "online") == BUNDLE_DAY
    assert serving_bundle(exports) == exports / "online" / "date=2026-03-04"
    assert latest_bundle(exports) == exports / "online" / "date=2026-03-05"
    capsys.readouterr()
    assert cli.main(["rewrite", "--user", "alice", "what's the weather in wilkerson"]) == 0
    assert f"online {exports / 'online' / 'date=2026-03-04'};" in capsys.readouterr().out


def test_pin_refuses_a_day_without_a_good_export(exports, capsys):
    assert cli.main(["pin", "rewrites", "2026-03-10"]) == 2
    err = capsys.readouterr().err
    assert "no rewrites export of 2026-03-10" in err and "2026-03-03, 2026-03-04" in err
    assert cli.main(["pin", "online", "2026-03-03"]) == 2
    assert "no online export of 2026-03-03" in capsys.readouterr().err
    (exports / "online" / "date=2026-03-04" / "global_entries.parquet").write_bytes(b"changed")
    assert cli.main(["pin", "online", "2026-03-04"]) == 2
    assert "global_entries.parquet does not match its sha256" in capsys.readouterr().err
    assert not (exports / "rewrites" / PIN_FILE).exists() and not (exports / "online" / PIN_FILE).exists()


def test_a_pinned_export_that_is_gone_is_an_error_not_a_fallback(exports, capsys):
    assert cli.main(["pin", "rewrites", "2026-03-03"]) == 0
    shutil.rmtree(exports / "rewrites" / "date=2026-03-03")
    with pytest.raises(RewriteExportError, match="pins 2026-03-03, but there is no export of that day"):
        serving_export(exports)
    capsys.readouterr()
    assert cli.main(["rewrite", KITCHEN]) == 2
    assert "selflearn unpin rewrites" in capsys.readouterr().err
    (exports / "rewrites" / PIN_FILE).write_text("yesterday")
    with pytest.raises(PinError, match="does not hold a date"):
        read_pin(exports / "rewrites")
    assert cli.main(["unpin", "rewrites"]) == 0  # a garbled pin can still be removed
    assert serving_export(exports) == exports / "rewrites" / "date=2026-03-04"
