"""The HTTP service (`lib/online/serve.py`) on the hand-made world: endpoints, bad input, metrics, hot swap.

The endpoints go through starlette's TestClient; the hot swap is driven by `check_for_update()` (one poll), and
once, marked slow, through a real `selflearn serve` on loopback with a client hammering it while it swaps.
`POST /teach` likewise: through the TestClient, across a swap, and on loopback with `selflearn teach` beside it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from selflearn_assets.lib.export_pins import remove_pin, write_pin
from selflearn_assets.lib.online.bundle import MANIFEST, BundleError
from selflearn_assets.lib.online.preferences import PreferenceStore, preferences_log
from selflearn_assets.lib.online.runtime import MAX_TEXT_CHARS, Rewriter
from selflearn_assets.lib.online.serve import (
    MAX_BODY_BYTES,
    RewriterService,
    create_app,
    load_rewriter,
    serving_folders,
)
from selflearn_assets_tests.ports import free_port

from .conftest import KEY, uid
from .serving_world import BUNDLE_DAY, KITCHEN, copy_bundle, write_table

D3, D5, D6 = date(2026, 3, 3), date(2026, 3, 5), date(2026, 3, 6)
WILKERSON_CA = "what's the weather in wilkerson california"
STUDY = "set the desk lamp to 40%"


@pytest.fixture(scope="module")
def exports(online_world, tmp_path_factory) -> Path:
    """A read-only exports root: the bundle of BUNDLE_DAY and a table of that day."""
    root = tmp_path_factory.mktemp("serve") / "exports"
    copy_bundle(online_world[0], root, BUNDLE_DAY)
    write_table(root, BUNDLE_DAY, "turn on the kitchen lights")
    return root


@pytest.fixture
def own_exports(online_world, tmp_path) -> Path:
    """An exports root a test may change: the bundle and a table of BUNDLE_DAY."""
    root = tmp_path / "exports"
    copy_bundle(online_world[0], root, BUNDLE_DAY)
    write_table(root, BUNDLE_DAY, "turn on the kitchen lights")
    return root


@pytest.fixture
def client(exports):
    service = RewriterService(exports, KEY, poll_seconds=0)
    with TestClient(create_app(service)) as client:
        client.service = service
        yield client


def _post(client, payload) -> httpx.Response:
    return client.post("/rewrite", content=json.dumps(payload).encode())


def parse_metrics(text: str) -> dict[tuple[str, frozenset], float]:
    """{(name, labels): value} of a Prometheus text exposition; fails on a line that is not one."""
    series = {}
    pattern = re.compile(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = pattern.match(line)
        assert match, f"not a Prometheus line: {line!r}"
        name, labels, value = match.groups()
        pairs = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or ""))
        series[(name, pairs)] = float(value)
    return series


def metric(series, name, **labels) -> float:
    return series[(name, frozenset((k, str(v)) for k, v in labels.items()))]


def test_rewrite_answers_the_runtimes_decision_as_json(client, exports):
    direct = Rewriter.load(exports, KEY, online=exports / "online" / "date=2026-03-04",
                           table=exports / "rewrites" / "date=2026-03-04")  # fmt: skip
    cases = [
        ("alice", "What's the weather in Wilkerson?", WILKERSON_CA, "personal"),
        ("someone-new", "play maj and dragons", "play imagine dragons", "global"),
        ("g01", KITCHEN, "turn on the kitchen lights", "table"),
        ("bob", "play we don't talk anymore", None, None),
        (
            "a-user-never-seen",
            "what's the weather in wilkerson",
            None,
            None,
        ),  # unknown user: no personal rewrite
    ]
    for user, text, rewrite, layer in cases:
        response = _post(client, {"user_id": user, "text": text})
        assert response.status_code == 200
        body = response.json()
        assert (body["rewrite"], body["layer"]) == (rewrite, layer), (user, text, body["reason"])
        assert body == json.loads(json.dumps(direct.rewrite(user, text).as_dict()))


def test_empty_text_and_the_longest_text_are_ordinary_requests(client):
    empty = _post(client, {"user_id": "alice", "text": ""})
    assert empty.status_code == 200
    assert (empty.json()["rewrite"], empty.json()["reason"]) == (None, "empty request")
    longest = _post(client, {"user_id": "alice", "text": "a" * MAX_TEXT_CHARS})
    assert longest.status_code == 200
    assert longest.json()["rewrite"] is None


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (b'\xff\xfe{"user_id": "a", "text": "hi"}', 400, "not_utf8"),
        ('{"user_id": "a", "text": "caf\u00e9"}'.encode("latin-1"), 400, "not_utf8"),
        (b"{not json", 400, "not_json"),
        (b"", 400, "not_json"),
        (b"[" * 5000, 400, "not_json"),  # deeper than the JSON parser recurses
        (b'["alice", "hi"]', 422, "not_object"),
        (b'"hi"', 422, "not_object"),
        (b'{"text": "hi"}', 422, "missing_field"),
        (b'{"user_id": "alice"}', 422, "missing_field"),
        (b'{"user_id": 5, "text": "hi"}', 422, "not_string"),
        (b'{"user_id": "alice", "text": null}', 422, "not_string"),
        (b'{"user_id": "alice", "text": ["hi"]}', 422, "not_string"),
        (b'{"user_id": "alice", "text": "hi \\ud800"}', 422, "not_unicode"),
        (json.dumps({"user_id": "a", "text": "a" * (MAX_TEXT_CHARS + 1)}).encode(), 413, "too_long"),
        (json.dumps({"user_id": "a", "text": "x" * 10_000}).encode(), 413, "too_long"),  # the 10 kB
        (json.dumps({"user_id": "a", "text": "x" * MAX_BODY_BYTES}).encode(), 413, "too_long"),
    ],
)
def test_bad_input_is_a_clear_4xx(client, body, status, reason):
    response = client.post("/rewrite", content=body)
    assert response.status_code == status
    assert response.json()["reason"] == reason
    assert response.json()["error"]
    series = parse_metrics(client.get("/metrics").text)
    assert metric(series, "selflearn_bad_requests_total", reason=reason) == 1
    assert metric(series, "selflearn_requests_total", endpoint="/rewrite", status=status) == 1
    assert metric(series, "selflearn_rewrite_seconds_count") == 0  # refused before the rewriter


def test_unknown_paths_and_methods_answer_json(client):
    missing = client.get("/nope")
    assert (missing.status_code, missing.json()["reason"]) == (404, "not_found")
    wrong = client.get("/rewrite")
    assert (wrong.status_code, wrong.json()["reason"]) == (405, "method")


def test_metrics_count_requests_layers_and_latency(client):
    for user, text in [("alice", "what's the weather in wilkerson"), ("alice", "What's the weather in Wilkerson?"),
                       ("x", "play maj and dragons"), ("x", KITCHEN), ("bob", "play we don't talk anymore"),
                       ("x", "")]:  # fmt: skip
        assert _post(client, {"user_id": user, "text": text}).status_code == 200
    client.post("/rewrite", content=b"{")
    _post(client, {"user_id": "x", "text": 3})
    client.get("/health")
    series = parse_metrics(client.get("/metrics").text)

    assert metric(series, "selflearn_requests_total", endpoint="/rewrite", status=200) == 6
    assert metric(series, "selflearn_requests_total", endpoint="/rewrite", status=400) == 1
    assert metric(series, "selflearn_requests_total", endpoint="/rewrite", status=422) == 1
    assert metric(series, "selflearn_requests_total", endpoint="/health", status=200) == 1
    rewrites = {layer: metric(series, "selflearn_rewrites_total", layer=layer)
                for layer in ("table", "global", "personal", "none")}  # fmt: skip
    assert rewrites == {"table": 1, "global": 1, "personal": 2, "none": 2}
    assert metric(series, "selflearn_bad_requests_total", reason="not_json") == 1
    assert metric(series, "selflearn_bad_requests_total", reason="not_string") == 1
    assert metric(series, "selflearn_bad_requests_total", reason="too_long") == 0

    # the histogram: cumulative buckets ending in +Inf = count = the 6 rewrite() calls
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (name, labels), value in series.items()
        if name == "selflearn_rewrite_seconds_bucket"
    )
    counts = [value for _, value in buckets]
    assert counts == sorted(counts) and buckets[-1] == (float("inf"), 6)
    assert metric(series, "selflearn_rewrite_seconds_count") == 6
    assert 0 < metric(series, "selflearn_rewrite_seconds_sum") < 6  # seconds, summed over 6 calls
    assert metric(series, "selflearn_rewrite_recent_seconds_count") == 6
    p50 = metric(series, "selflearn_rewrite_recent_seconds", quantile=0.5)
    assert 0 < p50 <= metric(series, "selflearn_rewrite_recent_seconds", quantile=0.99)

    folder = str(client.service.served.online)
    assert metric(series, "selflearn_export_info", kind="online", date="2026-03-04", folder=folder) == 1
    assert metric(series, "selflearn_export_date_seconds", kind="online") == 1_772_582_400  # 2026-03-04 UTC
    assert metric(series, "selflearn_export_date_seconds", kind="table") == 1_772_582_400
    assert metric(series, "selflearn_reloads_total", outcome="swapped") == 0


def test_health_names_what_is_served(client, exports):
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["online"] == {"folder": str(exports / "online" / "date=2026-03-04"), "date": "2026-03-04"}
    assert health["table"] == {"folder": str(exports / "rewrites" / "date=2026-03-04"), "date": "2026-03-04"}
    assert health["layers"] == ["table", "global", "personal"]
    assert health["pinned"] == {"online": None, "rewrites": None}
    assert health["last_reload_error"] is None
    first = health["uptime_s"]
    time.sleep(0.05)
    assert client.get("/health").json()["uptime_s"] >= first + 0.05


def test_hot_swap_newer_bundle_pin_and_broken_bundle(own_exports, online_world):
    service = RewriterService(own_exports, KEY, poll_seconds=0)
    assert service.check_for_update() is False  # nothing new
    old = service.served.rewriter

    copy_bundle(online_world[0], own_exports, D5)
    assert service.check_for_update() is True
    assert service.health()["online"]["date"] == "2026-03-05"
    assert service.served.rewriter is not old
    # a request that took the old rewriter before the swap still finishes on it
    assert old.rewrite("alice", "what's the weather in wilkerson").rewrite == WILKERSON_CA
    assert service.rewrite("alice", "what's the weather in wilkerson").rewrite == WILKERSON_CA

    # a newer bundle whose file was changed after export: refused, logged, the served one kept
    broken = copy_bundle(online_world[0], own_exports, D6)
    (broken / "ranker.joblib").write_bytes(b"not the ranker")
    assert service.check_for_update() is False
    assert service.health()["online"]["date"] == "2026-03-05"
    assert "ranker.joblib" in service.health()["last_reload_error"]
    assert service.check_for_update() is False  # not retried while its files are unchanged
    assert service.metrics.reloads == {"swapped": 1, "failed": 1}
    copy_bundle(online_world[0], own_exports, D6)  # exported again, complete
    assert service.check_for_update() is True
    assert service.health()["online"]["date"] == "2026-03-06"
    assert service.health()["last_reload_error"] is None

    # a pin rolls back; unpinning serves the newest again
    write_pin(own_exports / "online", BUNDLE_DAY, MANIFEST)
    assert service.check_for_update() is True
    assert (service.health()["online"]["date"], service.health()["pinned"]["online"]) == (
        "2026-03-04",
        "2026-03-04",
    )
    shutil.rmtree(
        own_exports / "online" / "date=2026-03-04"
    )  # the pinned bundle is gone: keep what is served
    assert service.check_for_update() is False
    assert "pins 2026-03-04" in service.health()["last_reload_error"]
    assert service.rewrite("x", "play maj and dragons").rewrite == "play imagine dragons"
    remove_pin(own_exports / "online")
    assert service.check_for_update() is True
    assert service.health()["online"]["date"] == "2026-03-06"
    assert service.metrics.reloads == {"swapped": 4, "failed": 1}


def test_hot_swap_of_the_table(own_exports):
    service = RewriterService(own_exports, KEY, poll_seconds=0)
    assert service.rewrite("x", KITCHEN).rewrite == "turn on the kitchen lights"
    write_table(own_exports, D5, "turn on all the kitchen lights")
    assert service.check_for_update() is True
    assert service.health()["table"]["date"] == "2026-03-05"
    assert service.health()["online"]["date"] == "2026-03-04"
    assert service.rewrite("x", KITCHEN).rewrite == "turn on all the kitchen lights"
    write_pin(own_exports / "rewrites", BUNDLE_DAY, "manifest.json")
    assert service.check_for_update() is True
    assert service.rewrite("x", KITCHEN).rewrite == "turn on the kitchen lights"


def test_only_the_layers_asked_are_loaded(own_exports, tmp_path):
    table_only = RewriterService(own_exports, KEY, layers=("table",), poll_seconds=0)
    assert table_only.served.online is None and table_only.served.rewriter.bundle is None
    assert table_only.rewrite("x", "play maj and dragons").rewrite is None
    shutil.rmtree(own_exports / "rewrites")
    without_table = load_rewriter(own_exports, KEY, online=serving_folders(own_exports)[0], table=None)
    assert without_table.layers == ("global", "personal")
    with pytest.raises(BundleError, match="no online bundle and no rewrite table"):
        RewriterService(tmp_path / "empty", KEY)
    with pytest.raises(BundleError, match="nothing to serve for layers table: no rewrite table"):
        RewriterService(own_exports, KEY, layers=("table",))


@pytest.fixture
def own_client(own_exports):
    """A client of a service of its own: what it is taught stays in this test's home."""
    service = RewriterService(own_exports, KEY, poll_seconds=0)
    with TestClient(create_app(service)) as client:
        client.service = service
        yield client


def _teach(client, payload) -> httpx.Response:
    return client.post("/teach", content=json.dumps(payload).encode())


TEACH_STUDY = {"user_id": "alice", "key": "concept:Study Mode", "value": STUDY, "event_id": "turn-1"}


def test_teach_is_used_by_the_next_rewrite(own_client, own_exports):
    log = preferences_log(own_exports.parent)
    assert own_client.get("/health").json()["preferences"] == {
        "log": str(log),
        "teaching": True,
        "users": 0,
        "skipped_lines": 0,
    }
    taught = _teach(own_client, TEACH_STUDY)
    assert taught.status_code == 200
    body = taught.json()
    assert {k: body[k] for k in ("user_id", "key", "value", "event_id", "source", "valid_to", "status")} == {
        "user_id": uid("alice"),  # the pseudonym, never the raw id
        "key": "concept:study mode",
        "value": STUDY,
        "event_id": "turn-1",
        "source": "runtime",
        "valid_to": None,
        "status": "stored",
    }
    after = _post(own_client, {"user_id": "alice", "text": "Turn on study mode"}).json()
    assert (after["rewrite"], after["layer"], after["score"], after["reason"]) == (
        STUDY,
        "personal",
        1.0,
        "taught concept",
    )
    bob = _post(own_client, {"user_id": "bob", "text": "turn on study mode"}).json()
    assert bob["rewrite"] != STUDY and not bob["reason"].startswith("taught")
    assert _teach(own_client, TEACH_STUDY).json()["status"] == "unchanged"  # a retry
    assert [json.loads(line)["event_id"] for line in log.read_text().splitlines()] == ["turn-1"]
    assert own_client.get("/health").json()["preferences"]["users"] == 1

    series = parse_metrics(own_client.get("/metrics").text)
    assert metric(series, "selflearn_requests_total", endpoint="/teach", status=200) == 2
    assert metric(series, "selflearn_teachings_total", status="stored") == 1
    assert metric(series, "selflearn_teachings_total", status="unchanged") == 1
    assert metric(series, "selflearn_taught_rewrites_total") == 1
    assert metric(series, "selflearn_rewrite_seconds_count") == 2


@pytest.mark.parametrize(
    "body, status, reason",
    [
        (b"\xff\xfe{}", 400, "not_utf8"),
        (b"{", 400, "not_json"),
        (b'["alice", "team", "Warriors", "e1"]', 422, "not_object"),
        (
            json.dumps({k: v for k, v in TEACH_STUDY.items() if k != "event_id"}).encode(),
            422,
            "missing_field",
        ),
        (json.dumps({**TEACH_STUDY, "key": 5}).encode(), 422, "not_string"),
        (json.dumps({**TEACH_STUDY, "event_id": None}).encode(), 422, "not_string"),
        (
            b'{"user_id": "alice", "key": "team", "value": "war \\ud800", "event_id": "e1"}',
            422,
            "not_unicode",
        ),
        (json.dumps({**TEACH_STUDY, "value": "x" * (MAX_TEXT_CHARS + 1)}).encode(), 413, "too_long"),
        (json.dumps({**TEACH_STUDY, "value": "x" * MAX_BODY_BYTES}).encode(), 413, "too_long"),
        (json.dumps({**TEACH_STUDY, "key": "Team!"}).encode(), 422, "invalid"),
        (json.dumps({**TEACH_STUDY, "key": "concept:alexa"}).encode(), 422, "invalid"),
        (json.dumps({**TEACH_STUDY, "value": "   "}).encode(), 422, "invalid"),
        (json.dumps({**TEACH_STUDY, "user_id": ""}).encode(), 422, "invalid"),
    ],
)
def test_bad_teach_bodies_are_a_clear_4xx_and_teach_nothing(own_client, own_exports, body, status, reason):
    response = own_client.post("/teach", content=body)
    assert response.status_code == status
    assert response.json()["reason"] == reason
    assert response.json()["error"]
    series = parse_metrics(own_client.get("/metrics").text)
    assert metric(series, "selflearn_teach_bad_requests_total", reason=reason) == 1
    assert metric(series, "selflearn_requests_total", endpoint="/teach", status=status) == 1
    assert metric(series, "selflearn_teachings_total", status="stored") == 0
    assert not preferences_log(own_exports.parent).exists()
    assert own_client.service.preferences.users() == []


def test_a_conflicting_event_is_409_and_an_unwritable_log_503(own_client, own_exports):
    assert _teach(own_client, {**TEACH_STUDY, "key": "team", "value": "Warriors"}).status_code == 200
    conflict = _teach(own_client, {**TEACH_STUDY, "key": "team", "value": "Lakers"})
    assert (conflict.status_code, conflict.json()["reason"]) == (409, "conflict")
    assert own_client.service.served.rewriter.preference("alice", "team") == "Warriors"

    log = preferences_log(own_exports.parent)
    log.unlink()
    log.mkdir()  # the log cannot be appended to: nothing is taught, and the client is told
    unwritable = _teach(own_client, TEACH_STUDY)
    assert (unwritable.status_code, unwritable.json()["reason"]) == (503, "log_unwritable")
    assert _post(own_client, {"user_id": "alice", "text": "turn on study mode"}).json()["rewrite"] != STUDY


def test_taught_items_survive_the_hot_swap_and_other_writers_are_read(own_exports, online_world):
    service = RewriterService(own_exports, KEY, poll_seconds=0)
    service.teach("alice", "concept:study mode", STUDY, "turn-1")
    old = service.served.rewriter
    copy_bundle(online_world[0], own_exports, D5)
    assert service.check_for_update() is True
    assert service.served.rewriter is not old and service.served.rewriter.preferences is old.preferences
    assert service.rewrite("alice", "turn on study mode").rewrite == STUDY

    # another process (`selflearn teach`) appends to the log: the service reads it at its next poll
    PreferenceStore.load(preferences_log(own_exports.parent)).teach(uid("bob"), "team", "Warriors", "cli-1")
    assert service.rewrite("bob", "play the game").reason != "taught preference team"
    assert service.check_for_update() is False  # no new export, but the log was re-read
    assert service.rewrite("bob", "play the game").rewrite == "play the warriors game"
    assert service.rewrite("alice", "turn on study mode").rewrite == STUDY
    assert service.health()["preferences"]["users"] == 2


def test_taught_items_are_served_without_an_online_bundle(own_exports):
    shutil.rmtree(own_exports / "online")
    service = RewriterService(own_exports, KEY, poll_seconds=0)
    assert service.served.rewriter.bundle is None
    assert service.health()["layers"] == ["table", "personal"]
    service.teach("alice", "concept:study mode", STUDY, "turn-1")
    assert service.rewrite("alice", "turn on study mode").rewrite == STUDY
    assert service.rewrite("x", KITCHEN).rewrite == "turn on the kitchen lights"
    control = RewriterService(own_exports, KEY, poll_seconds=0, teaching=False)
    assert control.health()["layers"] == ["table"]
    assert control.teach("bob", "team", "Warriors", "e2")["status"] == "ignored"
    assert control.rewrite("alice", "turn on study mode").rewrite is None


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.slow
def test_real_server_swaps_without_failing_a_request(own_exports, online_world, monkeypatch):
    """`selflearn serve` on loopback: a newer bundle, then a pin back, swapped in while a client hammers it."""
    from selflearn_assets import cli

    home = own_exports.parent
    monkeypatch.setenv("SELFLEARN_HOME", str(home))
    monkeypatch.setenv("SELFLEARN_PSEUDONYM_KEY", KEY)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "selflearn_assets.cli", "serve", "--port", str(port), "--poll-seconds", "0.2"],
        env={**os.environ, "SELFLEARN_HOME": str(home), "SELFLEARN_PSEUDONYM_KEY": KEY},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    results, errors, stop = [], [], threading.Event()

    def hammer():
        with httpx.Client(base_url=url, timeout=10) as http:
            while not stop.is_set():
                try:
                    r = http.post(
                        "/rewrite", json={"user_id": "alice", "text": "what's the weather in wilkerson"}
                    )
                    results.append(r.status_code)
                    if r.status_code != 200 or r.json()["rewrite"] != WILKERSON_CA:
                        errors.append((r.status_code, r.text[:200]))
                except httpx.HTTPError as err:
                    errors.append(repr(err))

    def served_day(http):
        return http.get("/health").json()["online"]["date"]

    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            _wait_for(lambda: http.get("/health").status_code == 200, 120, "the server to start")
            assert served_day(http) == "2026-03-04"
            client_thread = threading.Thread(target=hammer)
            client_thread.start()
            _wait_for(lambda: len(results) >= 20, 30, "requests before the swap")

            copy_bundle(online_world[0], own_exports, D5)
            _wait_for(lambda: served_day(http) == "2026-03-05", 30, "the swap to the newer bundle")
            before_pin = len(results)
            _wait_for(lambda: len(results) >= before_pin + 20, 30, "requests after the swap")

            assert cli.main(["pin", "online", "2026-03-04"]) == 0
            _wait_for(lambda: served_day(http) == "2026-03-04", 30, "the swap back to the pinned bundle")
            after_pin = len(results)
            _wait_for(lambda: len(results) >= after_pin + 20, 30, "requests after the pin")
            stop.set()
            client_thread.join(timeout=30)

            series = parse_metrics(http.get("/metrics").text)
            assert metric(series, "selflearn_reloads_total", outcome="swapped") == 2
            assert metric(series, "selflearn_reloads_total", outcome="failed") == 0
            assert metric(series, "selflearn_rewrites_total", layer="personal") == len(results)
            assert http.get("/health").json()["pinned"]["online"] == "2026-03-04"
    finally:
        stop.set()
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert errors == [], errors[:5]
    assert len(results) >= 60
    assert "swapped online 2026-03-04, table 2026-03-04 -> online 2026-03-05" in output, output[-2000:]


@pytest.mark.slow
def test_real_server_teach_on_loopback(own_exports, monkeypatch):
    """`selflearn serve` on loopback: POST /teach, then the next /rewrite uses it; bad bodies are 4xx; a
    `selflearn teach` beside it is used after the next poll; a restarted server still has both."""
    from selflearn_assets import cli

    home = own_exports.parent
    monkeypatch.setenv("SELFLEARN_HOME", str(home))
    monkeypatch.setenv("SELFLEARN_PSEUDONYM_KEY", KEY)

    def start():
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "selflearn_assets.cli", "serve", "--port", str(port), "--poll-seconds", "0.2"],
            env={**os.environ, "SELFLEARN_HOME": str(home), "SELFLEARN_PSEUDONYM_KEY": KEY},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        return server, f"http://127.0.0.1:{port}"

    def stop(server) -> str:
        server.terminate()
        return server.communicate(timeout=30)[0]

    def rewrite(http, user, text):
        return http.post("/rewrite", json={"user_id": user, "text": text}).json()

    server, url = start()
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            _wait_for(lambda: http.get("/health").status_code == 200, 120, "the server to start")
            assert rewrite(http, "alice", "turn on study mode")["rewrite"] != STUDY
            taught = http.post("/teach", json=TEACH_STUDY)
            assert (taught.status_code, taught.json()["status"]) == (200, "stored")
            assert rewrite(http, "alice", "turn on study mode")["rewrite"] == STUDY  # the very next request
            bad = http.post("/teach", content=b'{"user_id": "alice"')
            assert (bad.status_code, bad.json()["reason"]) == (400, "not_json")
            missing = http.post("/teach", json={"user_id": "alice", "key": "team"})
            assert (missing.status_code, missing.json()["reason"]) == (422, "missing_field")

            assert cli.main(["teach", "--user", "bob", "team", "Warriors", "--event-id", "cli-1"]) == 0
            _wait_for(lambda: rewrite(http, "bob", "play the game")["rewrite"] == "play the warriors game", 30,
                      "the server to read what selflearn teach wrote")  # fmt: skip
            series = parse_metrics(http.get("/metrics").text)
            assert metric(series, "selflearn_teachings_total", status="stored") == 1
            assert metric(series, "selflearn_teach_bad_requests_total", reason="not_json") == 1
    finally:
        output = stop(server)
    assert "Traceback" not in output, output[-2000:]

    server, url = start()  # a restart replays the runtime log
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            _wait_for(lambda: http.get("/health").status_code == 200, 120, "the server to restart")
            assert rewrite(http, "alice", "turn on study mode")["rewrite"] == STUDY
            assert rewrite(http, "bob", "play the game")["rewrite"] == "play the warriors game"
    finally:
        stop(server)
