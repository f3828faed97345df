"""Taught preferences and concepts: what a customer told the assistant, kept per user and used at once.

A customer teaches a **preference** ("I'm a Warriors fan": key `team`, value "Warriors") or a **concept**, a
name of their own for an action ("study mode" means "set the desk lamp to 40%": key `concept:study mode`).
Keys: a preference key is any `[a-z_]+` name (only those of the use table below change requests; the others
are kept for later uses); a concept key is `concept:` and the phrase normalised as requests are
(`markov.normalize`), so "concept:Study Mode!" is stored as `concept:study mode`.

`PreferenceStore` keeps them per **pseudonymised** user id (the runtime pseudonymises before it gets here; no
raw id is stored or logged). Each item has its value, provenance (`event_id`), a confidence, a source
("runtime": taught through `Rewriter.teach`; the daily asset will add "mined") and a validity interval: a later
teaching of a key replaces the current item, whose `valid_to` becomes the new one's `valid_from`; both are
kept, and the current value is the one with `valid_to` null. Teaching an event_id a second time (a client's
retry) changes nothing; the same event_id with another value is refused (`TeachConflict`).

How taught items rewrite a request (`taught_rewrite`; the request is normalised, the whole of it must match):

| taught key        | request                                                                   | rewrite                            |
|-------------------|---------------------------------------------------------------------------|------------------------------------|
| `concept:P`       | `P`, or `P` after turn on / switch on / switch to / start / activate / enable / set, optionally then my / the; or `P` at the end after 1-3 other words, none a question or negation word ("time for P", not "stop P") | the taught value, as taught |
| `team`            | play / watch / put on / when is / who won / what's the score of + "the game" | the same with "the {team} game" |
| `team`            | how did my team do / did my team win / how are my team doing               | the same with "the {team}"         |
| `team`            | what's my team's score                                                     | what's the {team} score            |
| `news_source`     | play / what's / what is / tell me + "the news", what's in the news         | the same + " from {news_source}"   |
| `music_service`   | play / can you play / put on / throw on / i want to hear / (i want to) listen to ... + X, where X has no " on " and is not "the game" / "the news" | the same + " on {music_service}" |
| `cuisine`         | (find / show (me)) (a / some) restaurant(s) (near me / nearby), where should i eat | {cuisine} restaurants near me |

A concept is looked up first (the longest phrase first), then the uses in the table's order. `{value}` is the
taught value normalised, so a use's rewrite is a normalised request like the one it replaces. A use never
fires when the request already names the value ("play the news from bbc", "play x on spotify", "play
spotify" for a user whose service is Spotify): those requests match no pattern or contain the value.

The runtime log, `$SELFLEARN_HOME/online/preferences.jsonl` (`preferences_log`; never the warehouse, which
has one writer): one JSON line per teaching, `{"ts", "user_id" (the pseudonym), "key", "value", "event_id",
"source", "confidence"}`, appended, flushed and fsynced before `teach` returns, so a crash loses at most the
line being written. `PreferenceStore.load(path)` replays it in file order (a missing file is an empty store);
a line that cannot be read (a torn last line, garbled JSON, a bad key) is skipped with a logged warning naming
its line number and counted in `skipped`, never raised. The next append first ends a torn last line, so it
stays a line of its own. Other processes may append (`selflearn teach`) or rewrite the file (forget-user):
`refresh()` re-reads it when it changed other than by this store's own appends.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from selflearn_assets.lib.markov.normalize import normalize_utterance

log = logging.getLogger("selflearn.preferences")

CONCEPT = "concept:"
RUNTIME = "runtime"  # taught through Rewriter.teach / POST /teach / selflearn teach
MAX_TEXT_CHARS = 1000  # the longest request, key, value or event_id the runtime takes (runtime re-exports it)
PREFERENCES_LOG = Path("online") / "preferences.jsonl"  # under $SELFLEARN_HOME
PREFERENCE_KEY = re.compile(r"[a-z_]+")
ACTIVATIONS = ("turn on", "switch on", "switch to", "start", "activate", "enable", "set")
ARTICLES = ("my", "the")
# a concept at the end of a request after other words ("time for study mode"): at most this many, and none of
# them a question or a negation
MAX_LEAD_WORDS = 3
QUESTION_WORDS = frozenset("what whats what's who how when where why which is are was does do did can could will should".split())
NEGATIONS = frozenset("off stop cancel end exit quit leave disable deactivate pause no not dont don't never without".split())

# (key, pattern over the whole normalised request, template): named groups and {value} fill the template
USES: tuple[tuple[str, str, str], ...] = (
    ("team", r"(?P<ask>play|watch|put on|when is|who won|what's the score of) the game", "{ask} the {value} game"),
    ("team", r"(?P<ask>how did|did|how are) my team (?P<then>do|win|doing)", "{ask} the {value} {then}"),
    ("team", r"what's my team's score", "what's the {value} score"),
    ("news_source", r"(?P<ask>(?:play|what's|what is|tell me) the news|what's in the news)", "{ask} from {value}"),
    ("music_service", r"(?P<ask>(?:(?:can|could|would) you |please )?play|put on|throw on|i want to hear"
     r"|i want to listen to|i'd like to hear|let me hear|listen to) (?!the game$|the news$)(?P<what>(?:(?! on ).)+)",
     "{ask} {what} on {value}"),
    ("cuisine", r"(?:(?:find|show)(?: me)? )?(?:a |some )?restaurants?(?: near me| nearby)?|where should i eat",
     "{value} restaurants near me"),
)  # fmt: skip
_USES = tuple((key, re.compile(pattern), template) for key, pattern, template in USES)


class TeachConflict(ValueError):
    """An event_id taught before with another value."""


@dataclass(frozen=True)
class TaughtItem:
    user_id: str  # the pseudonym
    key: str
    value: str
    event_id: str  # provenance: the event (turn, request) it was taught in
    confidence: float
    source: str
    valid_from: datetime
    valid_to: datetime | None = None  # None: the current value

    @property
    def kind(self) -> str:
        return "concept" if self.key.startswith(CONCEPT) else "preference"

    def as_dict(self) -> dict:
        return {
            "user_id": self.user_id,
            "key": self.key,
            "kind": self.kind,
            "value": self.value,
            "event_id": self.event_id,
            "confidence": self.confidence,
            "source": self.source,
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }

    def log_line(self) -> bytes:
        row = {"ts": self.valid_from.isoformat(), "user_id": self.user_id, "key": self.key, "value": self.value,
               "event_id": self.event_id, "source": self.source, "confidence": self.confidence}  # fmt: skip
        return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")


def preferences_log(home: str | Path) -> Path:
    """The runtime log of a SELFLEARN_HOME."""
    return Path(home) / PREFERENCES_LOG


def check_text(name: str, value, limit: int = MAX_TEXT_CHARS) -> str:
    """`value` if it is a non-blank string of at most `limit` characters that UTF-8 can encode, else ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} is empty")
    if len(value) > limit:
        raise ValueError(f"{name} is {len(value)} characters; at most {limit}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{name} holds an unpaired surrogate") from None
    return value


def normalize_key(key) -> str:
    """The stored form of a key: a preference name as it is, `concept:` + the normalised phrase; ValueError
    for anything else."""
    key = check_text("key", key).strip()
    if key.startswith(CONCEPT):
        phrase = normalize_utterance(key[len(CONCEPT) :])
        if not phrase:
            raise ValueError(f"concept key {key!r} has no phrase (letters or digits after the wake word)")
        return CONCEPT + phrase
    if not PREFERENCE_KEY.fullmatch(key):
        raise ValueError(
            f"key {key!r} is neither a preference name of a-z and _ (team, cuisine, news_source, "
            "music_service, ...) nor concept:<phrase>"
        )
    return key


def make_item(user_id, key, value, event_id, ts: datetime | None = None, source: str = RUNTIME,
              confidence: float = 1.0) -> TaughtItem:  # fmt: skip
    """A current item from what was taught, validated (ValueError): key normalised, value stripped, `ts` (default
    now) in UTC."""
    if not isinstance(confidence, int | float) or isinstance(confidence, bool) or not 0 <= confidence <= 1:
        raise ValueError(f"confidence {confidence!r} is not a number in [0, 1]")
    return TaughtItem(
        check_text("user_id", user_id), normalize_key(key), check_text("value", value).strip(),
        check_text("event_id", event_id), float(confidence), check_text("source", source), _utc(ts),
    )  # fmt: skip


def _utc(ts: datetime | None) -> datetime:
    if ts is None:
        return datetime.now(UTC)
    if ts.tzinfo is None:
        raise ValueError("ts must be timezone-aware")
    return ts.astimezone(UTC)


def taught_rewrite(norm: str, taught: Mapping[str, str]) -> tuple[str, str] | None:
    """(rewrite, key) of the normalised request `norm` by a user's current taught values (key -> value), or
    None: the module docstring's table."""
    phrases = [norm]
    for verb in ACTIVATIONS:
        if norm.startswith(verb + " "):
            rest = norm[len(verb) + 1 :]
            phrases.append(rest)
            phrases.extend(rest[len(a) + 1 :] for a in ARTICLES if rest.startswith(a + " "))
    for phrase in phrases:
        value = taught.get(CONCEPT + phrase)
        if value is not None and normalize_utterance(value) != norm:
            return value.strip(), CONCEPT + phrase
    found = _concept_at_end(norm, taught)
    if found is not None:
        return found
    for key, pattern, template in _USES:
        value = taught.get(key)
        if value is None:
            continue
        named = normalize_utterance(value)
        if not named or f" {named} " in f" {norm} ":
            continue
        match = pattern.fullmatch(norm)
        if match:
            groups = {k: v or "" for k, v in match.groupdict().items()}
            return template.format(value=named, **groups), key
    return None


def _concept_at_end(norm: str, taught: Mapping[str, str]) -> tuple[str, str] | None:
    """A concept named at the end of a request after up to `MAX_LEAD_WORDS` other words that neither ask about
    it nor stop it ("time for study mode", "let's do study mode"; not "what is study mode", "stop study mode")."""
    words = norm.split()
    for lead in range(1, min(MAX_LEAD_WORDS, len(words) - 1) + 1):
        before, phrase = words[:lead], " ".join(words[lead:])
        value = taught.get(CONCEPT + phrase)
        if value is None or before[0] in QUESTION_WORDS or NEGATIONS & set(before):
            continue
        if normalize_utterance(value) != norm:
            return value.strip(), CONCEPT + phrase
    return None


def _signature(path: Path | None) -> tuple | None:
    try:
        stat = path.stat() if path is not None else None
    except FileNotFoundError:
        return None
    return None if stat is None else (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _parse_line(raw: bytes) -> TaughtItem:
    row = json.loads(raw.decode("utf-8"))
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    missing = [f for f in ("ts", "user_id", "key", "value", "event_id", "source") if f not in row]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    if not isinstance(row["ts"], str):
        raise ValueError("ts is not a string")
    return make_item(row["user_id"], row["key"], row["value"], row["event_id"], datetime.fromisoformat(row["ts"]),
                     row["source"], row.get("confidence", 1.0))  # fmt: skip


def _same_event(items: list[TaughtItem], item: TaughtItem) -> TaughtItem | None:
    """The item of `items` taught in the same event as `item` (None: none); TeachConflict if its value differs."""
    for earlier in items:
        if earlier.event_id == item.event_id:
            if earlier.value != item.value:
                raise TeachConflict(
                    f"event {item.event_id!r} already taught {item.key} = {earlier.value!r}, not {item.value!r}"
                )
            return earlier
    return None


def _apply(history: dict[str, dict[str, list[TaughtItem]]], item: TaughtItem) -> None:
    """Make `item` the current one of its user and key; the one it replaces gets valid_to (never before its own
    valid_from). An item of an event already applied is not applied twice."""
    items = history.setdefault(item.user_id, {}).setdefault(item.key, [])
    if _same_event(items, item) is not None:
        return
    items.append(item)  # first: a reader on another thread sees the new current value or the old one
    if len(items) > 1 and items[-2].valid_to is None:
        items[-2] = replace(items[-2], valid_to=max(item.valid_from, items[-2].valid_from))


class PreferenceStore:
    """Taught items per pseudonymised user, in memory, with their history; appended to the runtime log at
    `path` when there is one (None: memory only). Thread-safe: teach and refresh hold `lock`; lookups read
    without it."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self.lock = threading.Lock()
        self._history: dict[str, dict[str, list[TaughtItem]]] = {}  # user -> key -> items, oldest first
        self.skipped: list[tuple[int, str]] = []  # (line number, why) of log lines not replayed
        self._seen: tuple | None = None  # the log's (inode, size, mtime) as this store last knew it

    @classmethod
    def load(cls, path: str | Path) -> PreferenceStore:
        """The store of the runtime log at `path` (empty when there is none yet); new teachings append to it."""
        store = cls(path)
        with store.lock:
            store._replay()
        return store

    def _replay(self) -> None:
        self._seen = _signature(self.path)  # first: an append while we read makes refresh() read again
        history: dict[str, dict[str, list[TaughtItem]]] = {}
        skipped: list[tuple[int, str]] = []
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        lines = data.split(b"\n")
        torn = not data.endswith(b"\n")
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            try:
                _apply(history, _parse_line(raw))
            except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError, TeachConflict: ValueErrors
                last = " (the last, unterminated: torn by a crash?)" if torn and number == len(lines) else ""
                why = f"{type(err).__name__}: {err}"[:200]
                skipped.append((number, why))
                log.warning("%s line %d%s skipped: %s", self.path, number, last, why)
        self._history, self.skipped = history, skipped  # one assignment each: readers see old or new

    def refresh(self) -> bool:
        """Re-read the log if another process changed it since this store read or wrote it; True if it did."""
        if self.path is None:
            return False
        with self.lock:
            if _signature(self.path) == self._seen:
                return False
            self._replay()
        log.info("%s changed on disk: reloaded (%d users, %d skipped lines)", self.path, len(self._history),
                 len(self.skipped))  # fmt: skip
        return True

    # --- teaching ------------------------------------------------------------------------------------------------

    def teach(
        self,
        user_id: str,
        key: str,
        value: str,
        event_id: str,
        *,
        ts: datetime | None = None,
        source: str = RUNTIME,
        confidence: float = 1.0,
    ) -> tuple[TaughtItem, str, TaughtItem | None]:
        """(the item, "stored" or "unchanged", the item it replaced): validates (ValueError), appends to the log,
        then applies in memory. "unchanged": the event_id was taught before with this value (a retry)."""
        item = make_item(user_id, key, value, event_id, ts, source, confidence)
        with self.lock:
            earlier = _same_event(self.history(item.user_id, item.key), item)
            if earlier is not None:
                return earlier, "unchanged", None
            previous = self.current(item.user_id, item.key)
            if self.path is not None:
                self._append(item.log_line())  # durable before it is used: a failed write teaches nothing
            _apply(self._history, item)
        return item, "stored", previous

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)  # personal data: owner only
        try:
            before = os.fstat(fd)
            if before.st_size and os.pread(fd, 1, before.st_size - 1) != b"\n":
                line = b"\n" + line  # end a torn last line first: it stays a (skipped) line of its own
            write_synced(fd, line)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_dir(self.path.parent)
        known = self._seen == (before.st_ino, before.st_size, before.st_mtime_ns) or (
            self._seen is None and before.st_size == 0
        )
        if known and after.st_size == before.st_size + len(line):  # nobody else wrote: still in sync
            self._seen = (after.st_ino, after.st_size, after.st_mtime_ns)

    # --- lookups (pseudonymised user ids) ------------------------------------------------------------------------

    def current(self, user_id: str, key: str) -> TaughtItem | None:
        items = self._history.get(user_id, {}).get(key)
        return items[-1] if items and items[-1].valid_to is None else None

    def history(self, user_id: str, key: str) -> list[TaughtItem]:
        """Every item of the key, oldest first (the current one last)."""
        return list(self._history.get(user_id, {}).get(key, ()))

    def values(self, user_id: str) -> dict[str, str]:
        """key -> current value of the user."""
        return {key: items[-1].value for key, items in self._history.get(user_id, {}).items()
                if items[-1].valid_to is None}  # fmt: skip

    def users(self) -> list[str]:
        return sorted(self._history)

    def rows(self) -> list[dict]:
        """Every item with its history, by user, key, then time (the daily asset's input)."""
        return [item.as_dict() for user in sorted(self._history) for key in sorted(self._history[user])
                for item in self._history[user][key]]  # fmt: skip

    def items_of(self, user_id: str) -> list[TaughtItem]:
        """Every item of the user (pseudonym), by key then time: the user's state, to move it elsewhere."""
        history = self._history.get(user_id, {})
        return [item for key in sorted(history) for item in history[key]]

    def restore(self, items: list[TaughtItem]) -> None:
        """Make items taken by `items_of` (from this or another store) the whole state of their users here, as
        they were, history included (what this store held of those users is replaced); in memory only, not
        appended to the log (they were logged where they were taught)."""
        users: dict[str, dict[str, list[TaughtItem]]] = {}
        for item in items:
            keyed = users.setdefault(item.user_id, {}).setdefault(item.key, [])
            if all(k.event_id != item.event_id for k in keyed):
                keyed.append(item)
        for keys in users.values():
            for keyed in keys.values():
                keyed.sort(key=lambda k: (k.valid_from, k.valid_to is None))
        with self.lock:
            self._history.update(users)

    def rewrite(self, user_id: str, norm: str) -> tuple[str, str] | None:
        """(rewrite, key) of the normalised request by the user's current taught items, or None."""
        history = self._history.get(user_id)
        return taught_rewrite(norm, self.values(user_id)) if history else None


def write_synced(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` (os.write may write less than asked), then fsync it."""
    rest = memoryview(data)
    while rest:
        rest = rest[os.write(fd, rest) :]
    os.fsync(fd)


def _fsync_dir(folder: Path) -> None:
    """Make a new file's directory entry durable too."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
