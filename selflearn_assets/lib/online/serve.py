"""`selflearn serve`: the online rewriter over HTTP (an ASGI app; starlette, run by uvicorn).

| endpoint        | answers                                                                                 |
|-----------------|-----------------------------------------------------------------------------------------|
| `POST /rewrite` | `{"user_id", "text"}` -> the decision, `RewriteDecision.as_dict()` (as `selflearn rewrite --json`) |
| `POST /teach`   | `{"user_id", "key", "value", "event_id"}` -> the item stored, `Rewriter.teach`'s dict; used from the next request on |
| `GET /health`   | status, the online bundle and the rewrite table served (folder, date), uptime, last reload error, taught items |
| `GET /metrics`  | Prometheus text: requests, decisions by layer, bad requests, rewrite() latency, teachings, exports served |

Bad input is a 4xx with a JSON body `{"error": <what is wrong>, "reason": <code>}`, never a 500: a body that is
not UTF-8 or not JSON (400), JSON that is not an object with string `user_id` and `text` (422), a text longer
than the runtime's `MAX_TEXT_CHARS` or a body over `MAX_BODY_BYTES` (413). An empty text, or a user the
personal layer does not know, is an ordinary request: 200 and a decision without a (personal) rewrite.
`POST /teach` is parsed the same way (its four fields strings; a key, value or event_id over `MAX_TEXT_CHARS`:
413), then refused with 422 `invalid` when `Rewriter.teach` refuses it (a blank field, a malformed key) and
409 `conflict` when its event_id was taught with another value; a runtime log it cannot append to is a 503.

Taught items live in one `PreferenceStore` for the service's life (the runtime log under `$SELFLEARN_HOME/online/`
when the exports root is `$SELFLEARN_HOME/exports`): every rewriter swapped in gets the same store, and each poll
re-reads the log when another process changed it (`selflearn teach`, forget-user).

Hot swap: a thread polls the exports root every `poll_seconds` for another export to serve (a newer day, a
re-exported day, a pin or unpin: `export_pins`), loads it completely off the request path, then replaces the
service's reference in one assignment. A request takes the reference once, so a request in flight finishes on
the rewriter it started with. An export that fails to load is logged, counted and skipped (the one served
stays), and retried only once its files change.

`rewrite()` runs on the event loop's thread: it is ~1 ms of CPU under the GIL, one request at a time, and a
thread pool would add hand-offs without adding throughput (and ask the rewriter to be thread-safe).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import Counter, deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from selflearn_assets.lib.export_pins import PinError, read_pin
from selflearn_assets.lib.online.bundle import BundleError, serving_bundle
from selflearn_assets.lib.online.preferences import PreferenceStore, TeachConflict
from selflearn_assets.lib.online.runtime import (
    ALL_LAYERS,
    HOME_LOG,
    MAX_TEXT_CHARS,
    RewriteDecision,
    Rewriter,
    open_preferences,
)
from selflearn_assets.lib.rewrites.export import read_export, serving_export

log = logging.getLogger("selflearn.serve")

MAX_BODY_BYTES = 64 * 1024  # a text of MAX_TEXT_CHARS characters, each \\uXXXX-escaped, fits many times over
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)  # seconds
RECENT = 10_000  # rewrite() latencies kept for the summary's quantiles
QUANTILES = (0.5, 0.9, 0.99)
BAD_REASONS = ("not_utf8", "not_json", "not_object", "missing_field", "not_string", "not_unicode", "too_long")
TEACH_BAD_REASONS = (*BAD_REASONS, "invalid", "conflict")
TEACH_STATUSES = ("stored", "unchanged", "ignored")  # Rewriter.teach's
REWRITE_FIELDS = ("user_id", "text")
TEACH_FIELDS = ("user_id", "key", "value", "event_id")
DECISION_LAYERS = (*ALL_LAYERS, "none")


# --- choosing and loading what is served ---------------------------------------------------------------------


def serving_folders(exports_root: str | Path) -> tuple[Path | None, Path | None]:
    """(online bundle, rewrite table) the runtime serves: the pinned days, else the newest (None: none)."""
    return serving_bundle(exports_root), serving_export(exports_root)


def load_rewriter(
    exports_root: str | Path,
    pseudonym_key: str,
    layers=ALL_LAYERS,
    online: Path | None = None,
    table: Path | None = None,
    preferences: PreferenceStore | str | Path | None = HOME_LOG,
    teaching: bool = True,
) -> Rewriter:
    """`Rewriter.load` on exactly these folders: a kind whose folder is None is not served (its layers are left
    out, except "personal" while teaching is on: taught items need no bundle), and the table's sha256 is
    checked against its manifest first. With no export at all but taught items (teaching on, the personal layer
    asked), those alone; else BundleError when no asked layer has an export."""
    layers = tuple(layers)
    unknown = set(layers) - set(ALL_LAYERS)
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; layers are {ALL_LAYERS}")
    usable = tuple(name for name in layers if (table if name == "table" else online) is not None)
    if not usable and teaching and "personal" in layers:  # no export yet: taught items are all there may be
        store = open_preferences(preferences, exports_root)
        if store.users():
            rewriter = Rewriter(None, None, pseudonym_key, ("personal",), store)
            rewriter.sources = {"online": None, "table": None}
            return rewriter
    if not usable:
        raise BundleError(
            f"nothing to serve for layers {','.join(layers)}: no "
            + " and no ".join(
                what
                for what, needed in (
                    ("online bundle", set(layers) - {"table"}),
                    ("rewrite table", "table" in layers),
                )
                if needed
            )
            + f" under {exports_root}; run the daily job first (`selflearn run`)"
        )
    if table is not None and "table" in usable:
        read_export(table)  # RewriteExportError on a missing file or a checksum that does not match
    rewriter = Rewriter.load(
        exports_root,
        pseudonym_key,
        layers=usable,
        online=online if set(usable) - {"table"} else None,
        table=table if "table" in usable else None,
        preferences=preferences,
        teaching=teaching,
    )
    if teaching and "personal" in layers and "personal" not in usable:
        rewriter.layers = (*rewriter.layers, "personal")  # taught items only: no bundle was loaded for it
    return rewriter


def folder_signature(folder: Path | None) -> tuple:
    """What tells one export folder's content from another: its files' names, inodes, sizes and mtimes (a stat
    of a dozen files: cheap enough for every poll). A day exported again, or a folder completed, changes it."""
    if folder is None or not folder.is_dir():
        return (None,)
    files = []
    for path in sorted(folder.rglob("*")):
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed while we looked: the next poll sees the folder as it is then
            continue
        if path.is_file():
            files.append((str(path.relative_to(folder)), stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return (str(folder), tuple(files))


def folder_day(folder: Path | None) -> str | None:
    """The day of an export folder (`date=D`), as latest_day reads it."""
    if folder is None or not folder.name.startswith("date="):
        return None
    return folder.name[len("date=") :]


@dataclass(frozen=True)
class Served:
    """One loaded rewriter and where it came from; replaced as a whole on a swap."""

    rewriter: Rewriter
    online: Path | None
    table: Path | None
    signature: tuple
    loaded_at: datetime


# --- metrics ---------------------------------------------------------------------------------------------------


def _label(value) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value) -> str:
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else repr(value)
    return str(value)


def _series(name: str, labels: dict, value) -> str:
    inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
    return f"{name}{{{inner}}} {_number(value)}" if inner else f"{name} {_number(value)}"


def _quantile(ordered: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted values (NaN for none)."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Metrics:
    """Counters of the service, rendered in the Prometheus text format (no client library needed)."""

    def __init__(self, buckets=LATENCY_BUCKETS, recent: int = RECENT):
        self.lock = threading.Lock()
        self.buckets = tuple(buckets)
        self.requests: Counter[tuple[str, int]] = Counter()
        self.decisions: Counter[str] = Counter({layer: 0 for layer in DECISION_LAYERS})
        self.bad: Counter[str] = Counter({reason: 0 for reason in BAD_REASONS})
        self.teach_bad: Counter[str] = Counter({reason: 0 for reason in TEACH_BAD_REASONS})
        self.teachings: Counter[str] = Counter({status: 0 for status in TEACH_STATUSES})
        self.taught_rewrites = 0
        self.reloads: Counter[str] = Counter({"swapped": 0, "failed": 0})
        self.bucket_counts = [0] * len(self.buckets)
        self.latency_sum = 0.0
        self.latency_count = 0
        self.recent: deque[float] = deque(maxlen=recent)

    def count_request(self, endpoint: str, status: int) -> None:
        with self.lock:
            self.requests[(endpoint, status)] += 1

    def count_bad(self, reason: str, endpoint: str = "/rewrite") -> None:
        with self.lock:
            (self.teach_bad if endpoint == "/teach" else self.bad)[reason] += 1

    def count_teaching(self, status: str) -> None:
        with self.lock:
            self.teachings[status] += 1

    def count_reload(self, outcome: str) -> None:
        with self.lock:
            self.reloads[outcome] += 1

    def observe_rewrite(self, seconds: float, layer: str | None, taught: bool = False) -> None:
        with self.lock:
            self.decisions[layer or "none"] += 1
            self.taught_rewrites += taught
            self.latency_sum += seconds
            self.latency_count += 1
            self.recent.append(seconds)
            for i, upper in enumerate(self.buckets):
                if seconds <= upper:
                    self.bucket_counts[i] += 1
                    break

    def render(self, exports: dict[str, dict], uptime_s: float) -> str:
        """The Prometheus text exposition; `exports`: kind -> {"folder", "date"} of what is served."""
        with self.lock:
            requests = sorted(self.requests.items())
            decisions, bad, reloads = dict(self.decisions), dict(self.bad), dict(self.reloads)
            teach_bad, teachings, taught = dict(self.teach_bad), dict(self.teachings), self.taught_rewrites
            bucket_counts, total, count = list(self.bucket_counts), self.latency_sum, self.latency_count
            recent = sorted(self.recent)
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str, rows) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            lines.extend(rows)

        family(
            "selflearn_requests_total",
            "counter",
            "HTTP requests answered, by endpoint and status code.",
            [_series("selflearn_requests_total", {"endpoint": e, "status": s}, n) for (e, s), n in requests],
        )
        family(
            "selflearn_rewrites_total",
            "counter",
            "Decisions of POST /rewrite by the layer that rewrote (none: the request runs as it is).",
            [_series("selflearn_rewrites_total", {"layer": k}, v) for k, v in decisions.items()],
        )
        family(
            "selflearn_bad_requests_total",
            "counter",
            "POST /rewrite requests refused with a 4xx, by reason.",
            [_series("selflearn_bad_requests_total", {"reason": k}, v) for k, v in bad.items()],
        )
        family(
            "selflearn_taught_rewrites_total",
            "counter",
            "Decisions of POST /rewrite made by a taught concept or preference (counted under personal too).",
            [f"selflearn_taught_rewrites_total {taught}"],
        )
        family(
            "selflearn_teachings_total",
            "counter",
            "POST /teach requests answered 200, by status: stored, unchanged (a retry), ignored (teaching off).",
            [_series("selflearn_teachings_total", {"status": k}, v) for k, v in teachings.items()],
        )
        family(
            "selflearn_teach_bad_requests_total",
            "counter",
            "POST /teach requests refused with a 4xx, by reason.",
            [_series("selflearn_teach_bad_requests_total", {"reason": k}, v) for k, v in teach_bad.items()],
        )
        cumulative, rows = 0, []
        for upper, n in zip(self.buckets, bucket_counts, strict=True):
            cumulative += n
            rows.append(_series("selflearn_rewrite_seconds_bucket", {"le": repr(upper)}, cumulative))
        rows.append(_series("selflearn_rewrite_seconds_bucket", {"le": "+Inf"}, count))
        rows += [
            f"selflearn_rewrite_seconds_sum {_number(total)}",
            f"selflearn_rewrite_seconds_count {count}",
        ]
        family(
            "selflearn_rewrite_seconds", "histogram", "Time spent in Rewriter.rewrite() per request.", rows
        )
        rows = [
            _series("selflearn_rewrite_recent_seconds", {"quantile": q}, _quantile(recent, q))
            for q in QUANTILES
        ]
        rows += [
            f"selflearn_rewrite_recent_seconds_sum {_number(float(sum(recent)))}",
            f"selflearn_rewrite_recent_seconds_count {len(recent)}",
        ]
        family(
            "selflearn_rewrite_recent_seconds",
            "summary",
            f"Rewriter.rewrite() time over the last {self.recent.maxlen} requests.",
            rows,
        )
        family(
            "selflearn_reloads_total",
            "counter",
            "Exports the poller loaded: swapped in, or failed (the one served was kept).",
            [_series("selflearn_reloads_total", {"outcome": k}, v) for k, v in reloads.items()],
        )
        rows, stamps = [], []
        for kind, info in exports.items():
            rows.append(
                _series(
                    "selflearn_export_info",
                    {"kind": kind, "date": info["date"] or "", "folder": info["folder"]},
                    1,
                )
            )
            day = info["date"]
            if day:
                midnight = datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC)
                stamps.append(
                    _series("selflearn_export_date_seconds", {"kind": kind}, int(midnight.timestamp()))
                )
        family("selflearn_export_info", "gauge", "The exports served (1 per kind served).", rows)
        family(
            "selflearn_export_date_seconds",
            "gauge",
            "Day of the export served, as the Unix time of its midnight (UTC).",
            stamps,
        )
        uptime = [f"selflearn_uptime_seconds {uptime_s:.3f}"]
        family("selflearn_uptime_seconds", "gauge", "Seconds since the service started.", uptime)
        return "\n".join(lines) + "\n"


# --- the service -----------------------------------------------------------------------------------------------


class RewriterService:
    """The rewriter served, the poller that swaps it, and the counters. Loads the export to serve at once
    (BundleError / RewriteExportError when there is none or it cannot be loaded)."""

    def __init__(
        self,
        exports_root: str | Path,
        pseudonym_key: str,
        layers=ALL_LAYERS,
        poll_seconds: float = 30.0,
        preferences: PreferenceStore | str | Path | None = HOME_LOG,
        teaching: bool = True,
    ):
        self.exports_root = Path(exports_root)
        self.key = pseudonym_key
        self.layers = tuple(layers)
        self.poll_seconds = poll_seconds
        self.preferences = open_preferences(preferences, exports_root)  # one store for every rewriter served
        self.teaching = teaching
        self.metrics = Metrics()
        self.started = time.monotonic()
        self.last_error: str | None = None
        self._failed_signature: tuple | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        online, table = self._choose()
        self.served = self._load(online, table)

    # which kinds the layers need: a new export of a kind not served is no reason to reload
    def _choose(self) -> tuple[Path | None, Path | None]:
        online, table = serving_folders(self.exports_root)
        return (online if set(self.layers) - {"table"} else None, table if "table" in self.layers else None)

    def _load(self, online: Path | None, table: Path | None) -> Served:
        signature = (folder_signature(online), folder_signature(table))
        rewriter = load_rewriter(
            self.exports_root, self.key, self.layers, online, table, self.preferences, self.teaching
        )
        sources = getattr(rewriter, "sources", {})
        online = Path(sources["online"]) if sources.get("online") else None
        table = Path(sources["table"]) if sources.get("table") else None
        return Served(rewriter, online, table, signature, datetime.now(UTC))

    def _fail(self, message: str) -> None:
        if message != self.last_error:  # once per distinct failure, not once per poll
            log.error("selflearn serve: keeping %s: %s", self.describe(), message)
        self.last_error = message

    def check_for_update(self) -> bool:
        """One poll: load and swap to the export that should be served if it is not the one served. True when
        it swapped. Never raises: a failure is logged and the export served stays. Also re-reads the runtime
        log of taught items if another process changed it."""
        try:
            self.preferences.refresh()
        except Exception as err:  # an unreadable log: keep the items in memory
            log.error("selflearn serve: keeping the taught items in memory: %s: %s", type(err).__name__, err)
        try:
            online, table = self._choose()
        except Exception as err:  # a broken pin; any error here must not kill the poller
            self._fail(str(err))
            return False
        signature = (folder_signature(online), folder_signature(table))
        if signature == self.served.signature or signature == self._failed_signature:
            return False
        try:
            served = self._load(online, table)
        except Exception as err:  # BundleError, RewriteExportError, or a file the readers choke on
            self._failed_signature = signature
            self.metrics.count_reload("failed")
            if not isinstance(err, BundleError):
                log.debug("load failure", exc_info=True)
            self._fail(f"{type(err).__name__}: {err}")
            return False
        previous = self.describe()
        self.served = served  # the swap: one reference; requests in flight hold the previous one
        self._failed_signature = None
        self.last_error = None
        self.metrics.count_reload("swapped")
        log.info("selflearn serve: swapped %s -> %s", previous, self.describe())
        return True

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.check_for_update()

    def start_polling(self) -> None:
        if self.poll_seconds and self.poll_seconds > 0 and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._poll, name="selflearn-serve-poller", daemon=True)
            self._thread.start()

    def stop_polling(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(5.0, 2 * (self.poll_seconds or 0)))
            self._thread = None

    def rewrite(self, user_id: str, text: str) -> RewriteDecision:
        rewriter = self.served.rewriter  # taken once: a swap during this request does not affect it
        t0 = time.perf_counter()
        decision = rewriter.rewrite(user_id, text)
        taught = decision.reason.startswith("taught ")
        self.metrics.observe_rewrite(time.perf_counter() - t0, decision.layer, taught)
        return decision

    def teach(self, user_id: str, key: str, value: str, event_id: str) -> dict:
        """`Rewriter.teach` on the rewriter served (its store is the service's): ValueError on bad input."""
        result = self.served.rewriter.teach(user_id, key, value, event_id)
        self.metrics.count_teaching(result["status"])
        return result

    def exports(self) -> dict[str, dict]:
        served = self.served
        return {
            kind: {"folder": str(folder), "date": folder_day(folder)}
            for kind, folder in (("online", served.online), ("table", served.table))
            if folder is not None
        }

    def describe(self) -> str:
        exports = self.exports()
        return ", ".join(f"{k} {v['date']}" for k, v in exports.items()) or "nothing"

    def uptime(self) -> float:
        return time.monotonic() - self.started

    def health(self) -> dict:
        exports = self.exports()
        store = self.preferences
        return {
            "status": "ok",
            "online": exports.get("online"),
            "table": exports.get("table"),
            "layers": list(self.served.rewriter.layers),
            "loaded_at": self.served.loaded_at.isoformat(timespec="seconds"),
            "uptime_s": round(self.uptime(), 3),
            "poll_seconds": self.poll_seconds,
            "pinned": self.pins(),
            "last_reload_error": self.last_error,
            "preferences": {
                "log": str(store.path) if store.path else None,
                "teaching": self.teaching,
                "users": len(store.users()),
                "skipped_lines": len(store.skipped),
            },
        }

    def pins(self) -> dict[str, str | None]:
        """The day each kind is pinned to (`selflearn pin`), None: not pinned."""
        pins = {}
        for kind in ("online", "rewrites"):
            try:
                day = read_pin(self.exports_root / kind)
            except PinError as err:
                pins[kind] = f"unreadable: {err}"
                continue
            pins[kind] = day.isoformat() if day else None
        return pins


# --- HTTP -------------------------------------------------------------------------------------------------------


class BadRequest(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def parse_rewrite_body(body: bytes) -> tuple[str, str]:
    """(user_id, text) of a POST /rewrite body, or BadRequest saying what is wrong with it."""
    payload = parse_body(body, REWRITE_FIELDS, limited=("text",))
    return payload["user_id"], payload["text"]


def parse_teach_body(body: bytes) -> tuple[str, str, str, str]:
    """(user_id, key, value, event_id) of a POST /teach body, or BadRequest saying what is wrong with it."""
    payload = parse_body(body, TEACH_FIELDS, limited=("key", "value", "event_id"))
    return tuple(payload[name] for name in TEACH_FIELDS)


def parse_body(body: bytes, fields: tuple[str, ...], limited: tuple[str, ...] = ()) -> dict:
    """The JSON object of a POST body with string `fields` (others are ignored), those of `limited` at most
    MAX_TEXT_CHARS characters; BadRequest saying what is wrong with it."""
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadRequest(400, "not_utf8", f"body is not UTF-8 (byte {err.start})") from None
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as err:  # RecursionError: nesting deeper than the parser goes
        raise BadRequest(400, "not_json", f"body is not JSON: {err}"[:200]) from None
    if not isinstance(payload, dict):
        shape = ", ".join(f'"{name}": ...' for name in fields)
        raise BadRequest(422, "not_object", f"body must be a JSON object {{{shape}}}")
    missing = [name for name in fields if name not in payload]
    if missing:
        raise BadRequest(422, "missing_field", f"missing field(s): {', '.join(missing)}")
    for name in fields:
        value = payload[name]
        if not isinstance(value, str):
            raise BadRequest(422, "not_string", f"{name} must be a string, not {type(value).__name__}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, written as a \\ud800 escape
            raise BadRequest(422, "not_unicode", f"{name} holds an unpaired surrogate escape") from None
    for name in limited:
        if len(payload[name]) > MAX_TEXT_CHARS:
            raise BadRequest(
                413, "too_long", f"{name} is {len(payload[name])} characters; at most {MAX_TEXT_CHARS}"
            )
    return payload


async def _read_body(request: Request) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise BadRequest(413, "too_long", f"body is {length} bytes; at most {MAX_BODY_BYTES}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BadRequest(413, "too_long", f"body is over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(service: RewriterService) -> Starlette:
    """The ASGI app of `service`; its lifespan starts and stops the poller."""

    def answer(endpoint: str, response: Response) -> Response:
        service.metrics.count_request(endpoint, response.status_code)
        return response

    async def rewrite(request: Request) -> Response:
        try:
            user_id, text = parse_rewrite_body(await _read_body(request))
        except BadRequest as bad:
            service.metrics.count_bad(bad.reason)
            return answer("/rewrite", JSONResponse({"error": bad.message, "reason": bad.reason}, bad.status))
        try:
            decision = service.rewrite(user_id, text)
        except Exception:  # a bug, not bad input: say so, log the traceback, keep serving
            log.exception("rewrite failed for a request of %d characters", len(text))
            return answer("/rewrite", JSONResponse({"error": "internal error", "reason": "internal"}, 500))
        return answer("/rewrite", JSONResponse(decision.as_dict()))

    async def teach(request: Request) -> Response:
        def refuse(status: int, reason: str, message: str) -> Response:
            if status < 500:
                service.metrics.count_bad(reason, "/teach")
            return answer("/teach", JSONResponse({"error": message, "reason": reason}, status))

        try:
            user_id, key, value, event_id = parse_teach_body(await _read_body(request))
        except BadRequest as bad:
            return refuse(bad.status, bad.reason, bad.message)
        try:
            item = service.teach(user_id, key, value, event_id)
        except TeachConflict as err:
            return refuse(409, "conflict", str(err))
        except ValueError as err:
            return refuse(422, "invalid", str(err))
        except OSError as err:  # the runtime log cannot be appended to: nothing was taught
            log.error("teach failed: cannot append to the runtime log: %s", err)
            return refuse(503, "log_unwritable", f"the runtime log cannot be written: {err.strerror or err}")
        except Exception:  # a bug, not bad input
            log.exception("teach failed")
            return answer("/teach", JSONResponse({"error": "internal error", "reason": "internal"}, 500))
        return answer("/teach", JSONResponse(item))

    async def health(request: Request) -> Response:
        return answer("/health", JSONResponse(service.health()))

    async def metrics(request: Request) -> Response:
        text = service.metrics.render(service.exports(), service.uptime())
        return answer("/metrics", Response(text, media_type="text/plain; version=0.0.4; charset=utf-8"))

    async def http_error(request: Request, exc: HTTPException) -> Response:
        known = request.url.path in ("/rewrite", "/teach", "/health", "/metrics")
        body = {"error": exc.detail, "reason": "not_found" if exc.status_code == 404 else "method"}
        return answer(
            request.url.path if known else "other", JSONResponse(body, exc.status_code, exc.headers)
        )

    @asynccontextmanager
    async def lifespan(app):
        service.start_polling()
        try:
            yield
        finally:
            service.stop_polling()

    return Starlette(
        routes=[
            Route("/rewrite", rewrite, methods=["POST"]),
            Route("/teach", teach, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
    )
