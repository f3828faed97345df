"""The online rewriter: `Rewriter.load(exports).rewrite(user_id, text) -> RewriteDecision`.

For one request, in order:

1. the text is normalised as a Markov state is (`markov.normalize`); empty (or only a wake word): no rewrite;
2. what the user **taught** (`preferences`: a concept "study mode" -> "set the desk lamp to 40%", a preference
   team = Warriors for "play the game"), the personal layer's first answer (score 1.0), when "personal" is
   among the layers and teaching is on;
3. the **table** layer: the exported Markov table's exact match, as the runtime has always done;
4. the **global** and **personal** layers: the request is encoded (static encoder), candidates retrieved from
   the global index and from this user's own entries (`layers.Layers.retrieve`), scored by the ranker, and the
   best one applied only if its calibrated P(right) clears the ranker's threshold. A candidate the user has
   said themselves is credited to the personal layer.

`user_id` is the id as the logs carry it; it is pseudonymised inside with the platform's key, exactly as
ingestion does (`left(sha256(key || ':' || id), 16)`), so the personal entries of the logs are found and no
raw id is kept. `layers` limits which layers may answer (the A/B arms: `("table",)`, `("table", "global")`,
all three). Any input gets a decision, never an exception: text that is not a string, is empty, or is longer
than `MAX_TEXT_CHARS` is refused with a reason.

Teaching: `teach(user_id, key, value, event_id)` applies a preference or concept at once (the very next request
uses it) and appends it to the runtime log of the `PreferenceStore` (`Rewriter.load` opens
`$SELFLEARN_HOME/online/preferences.jsonl` of the exports root's home); `preference(user_id, key)` reads it back.
`teaching=False` (an A/B arm with the personal layer but without teaching) neither stores nor uses taught items.
A rewriter without bundle and table (`Rewriter(None, None, key)`) serves taught items only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl

from selflearn_assets.lib.ingest.pseudonym_keys import key_fingerprint
from selflearn_assets.lib.markov.mine import rewrite_id
from selflearn_assets.lib.markov.normalize import normalize_utterance
from selflearn_assets.lib.online.bundle import Bundle, BundleError, load_bundle, serving_bundle
from selflearn_assets.lib.online.features import feature_matrix
from selflearn_assets.lib.online.preferences import (
    CONCEPT,
    MAX_TEXT_CHARS,
    PreferenceStore,
    make_item,
    normalize_key,
    preferences_log,
)
from selflearn_assets.lib.rewrites.export import MANIFEST as TABLE_MANIFEST
from selflearn_assets.lib.rewrites.export import TABLE, serving_export

ALL_LAYERS = ("table", "global", "personal")


class _HomeLog:
    def __repr__(self) -> str:
        return "HOME_LOG"


HOME_LOG = _HomeLog()  # Rewriter.load's default: the runtime log of the exports root's home


def open_preferences(preferences, exports: str | Path | None = None) -> PreferenceStore:
    """The store `preferences` names: a PreferenceStore as it is; a path: its log replayed; None: memory only;
    HOME_LOG: `$SELFLEARN_HOME/online/preferences.jsonl` when the exports root is `$SELFLEARN_HOME/exports` (as
    the settings lay it out), else memory only."""
    if isinstance(preferences, PreferenceStore):
        return preferences
    if preferences is HOME_LOG:
        root = Path(exports) if exports is not None else None
        preferences = preferences_log(root.parent) if root is not None and root.name == "exports" else None
    return PreferenceStore.load(preferences) if preferences is not None else PreferenceStore()


def pseudonymize(key: str, raw_id: str) -> str:
    """The pseudonym ingestion gives `raw_id` (dbt_like_sql/ingest/macros.sql)."""
    return hashlib.sha256(f"{key}:{raw_id}".encode()).hexdigest()[:16]


@dataclass
class RewriteDecision:
    text: str  # the request as received
    normalized: str
    rewrite: str | None = None  # the text to run instead; None: run the request as it is
    rewrite_id: str | None = None
    layer: str | None = None  # table | global | personal
    score: float | None = None  # calibrated P(the rewrite is right); table rewrites: the table's confidence
    candidates: list[dict] = field(default_factory=list)  # the scored candidates, best first
    reason: str = ""  # why there is (no) rewrite

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class Rewriter:
    def __init__(
        self,
        bundle: Bundle | None,
        table: pl.DataFrame | None,
        pseudonym_key: str,
        layers=ALL_LAYERS,
        preferences: PreferenceStore | None = None,
        teaching: bool = True,
    ):
        unknown = set(layers) - set(ALL_LAYERS)
        if unknown:
            raise ValueError(f"unknown layers {sorted(unknown)}; layers are {ALL_LAYERS}")
        self.bundle = bundle
        self.key = pseudonym_key
        self.layers = tuple(layers)
        self.preferences = preferences if preferences is not None else PreferenceStore()  # None: memory only
        self.teaching = teaching
        self.table: dict[str, tuple[str, str, float | None]] = {}
        if table is not None:
            for src, dst, rid, conf in table.select(
                "source_text", "rewrite_text", "rewrite_id", "confidence"
            ).iter_rows():
                self.table[src] = (dst, rid, conf)

    def restricted(self, layers, teaching: bool | None = None) -> Rewriter:
        """This rewriter with only `layers` answering (an A/B arm), sharing its loaded bundle, table and taught
        items; `teaching`: the arm's switch (default: this rewriter's)."""
        arm = Rewriter(self.bundle, None, self.key, layers, self.preferences,
                       self.teaching if teaching is None else teaching)  # fmt: skip
        arm.table = self.table
        arm.sources = getattr(self, "sources", {})
        return arm

    @classmethod
    def load(
        cls,
        exports: str | Path,
        pseudonym_key: str,
        layers=ALL_LAYERS,
        online: str | Path | None = None,
        table: str | Path | None = None,
        preferences: PreferenceStore | str | Path | None = HOME_LOG,
        teaching: bool = True,
    ) -> Rewriter:
        """From an exports root: the online bundle and rewrite table being served (the pinned day's, else the
        newest; `selflearn pin`), or the folders given. A bundle built with another pseudonym key is refused:
        its personal entries would match nobody, silently. Taught items: `open_preferences(preferences)` (by
        default the runtime log of the exports root's home)."""
        online_folder = Path(online) if online else serving_bundle(exports)
        table_folder = Path(table) if table else serving_export(exports)
        if online_folder is None and table_folder is None:
            raise BundleError(
                f"no online bundle and no rewrite table under {exports}: run the daily job first"
            )
        bundle = load_bundle(online_folder) if online_folder is not None and set(layers) - {"table"} else None
        built_with = bundle.manifest.get("pseudonym_key_fingerprint") if bundle else None
        if built_with and built_with != key_fingerprint(pseudonym_key):
            raise BundleError(
                f"{online_folder} was built from logs pseudonymised with key {built_with}, not with this key "
                f"({key_fingerprint(pseudonym_key)}): set SELFLEARN_PSEUDONYM_KEY to the key the logs were ingested with"
            )
        frame = None
        if table_folder is not None and (table_folder / TABLE_MANIFEST).is_file() and "table" in layers:
            frame = pl.read_parquet(table_folder / TABLE)
        store = open_preferences(preferences, exports)
        rewriter = cls(bundle, frame, pseudonym_key, layers, store, teaching)
        rewriter.sources = {
            "online": str(online_folder) if bundle else None,
            "table": str(table_folder) if frame is not None else None,
        }
        return rewriter

    def rewrite(self, user_id, text, context: dict | None = None) -> RewriteDecision:
        """The decision for `text` said by `user_id` (the id as the logs carry it); `context` is reserved for
        the request's dialogue context and not used yet."""
        user = pseudonymize(self.key, str(user_id)) if user_id not in (None, "") else None
        return self.rewrite_pseudonymous(user, text)

    def rewrite_pseudonymous(self, user: str | None, text) -> RewriteDecision:
        """As `rewrite`, for a user id already pseudonymised (the warehouse's): offline evaluation and replay."""
        decision, done = self._table(text, user)
        return decision if done else self._online(decision, user)

    def teach(self, user_id, key, value, event_id, *, ts: datetime | None = None) -> dict:
        """Teach `user_id` (the id as the logs carry it) a preference (`team`, any `[a-z_]+` key) or a concept
        (`concept:<phrase>`): used from the next request on, appended to the runtime log first when the store
        has one. The item as a dict, with `status` ("stored"; "unchanged": this event_id was taught before;
        "ignored": teaching is off, nothing kept) and `replaced` (the value it replaced, or None). ValueError
        on bad input (an empty or non-string field, a malformed key, a value over MAX_TEXT_CHARS)."""
        if not isinstance(user_id, str) or not user_id.strip():
            raise ValueError("user_id must be a non-empty string")
        user = pseudonymize(self.key, user_id)
        if not self.teaching:
            item = make_item(user, key, value, event_id, ts)  # validated all the same
            return {**item.as_dict(), "status": "ignored", "replaced": None}
        item, status, previous = self.preferences.teach(user, key, value, event_id, ts=ts)
        return {**item.as_dict(), "status": status, "replaced": previous.value if previous else None}

    def preference(self, user_id, key: str) -> str | None:
        """The current value `user_id` taught for `key` (a preference name or `concept:<phrase>`); None when
        there is none or teaching is off."""
        if not self.teaching or not isinstance(user_id, str) or not user_id:
            return None
        item = self.preferences.current(pseudonymize(self.key, user_id), normalize_key(key))
        return item.value if item else None

    def _taught(self, decision: RewriteDecision, user: str) -> bool:
        """Fill `decision` from the user's taught items; True if one applies."""
        found = self.preferences.rewrite(user, decision.normalized)
        if found is None:
            return False
        target, key = found
        decision.rewrite, decision.rewrite_id = target, rewrite_id(decision.normalized, target)
        decision.layer, decision.score = "personal", 1.0
        decision.reason = "taught concept" if key.startswith(CONCEPT) else f"taught preference {key}"
        decision.candidates = [{"text": target, "score": 1.0, "layer": "personal"}]
        return True

    def _table(self, text, user: str | None = None) -> tuple[RewriteDecision, bool]:
        """The decision as far as bad input, taught items and the table go, and whether it is final."""
        if not isinstance(text, str):
            return RewriteDecision(str(text)[:100], "", reason="text is not a string"), True
        if len(text) > MAX_TEXT_CHARS:
            return RewriteDecision(
                text[:100], "", reason=f"text longer than {MAX_TEXT_CHARS} characters"
            ), True
        norm = normalize_utterance(text)
        decision = RewriteDecision(text, norm)
        if not norm:
            decision.reason = "empty request"
            return decision, True
        if user is not None and self.teaching and "personal" in self.layers and self._taught(decision, user):
            return decision, True
        if "table" in self.layers and norm in self.table:
            dst, rid, conf = self.table[norm]
            decision.rewrite, decision.rewrite_id, decision.layer, decision.score = dst, rid, "table", conf
            decision.reason = "exact match in the rewrite table"
            return decision, True
        if self.bundle is None or not set(self.layers) & {"global", "personal"}:
            decision.reason = "no table match; no online layer loaded"
            return decision, True
        return decision, False

    def _online(self, decision: RewriteDecision, user: str | None) -> RewriteDecision:
        norm = decision.normalized
        personal = "personal" in self.layers and user is not None
        layers = self.bundle.layers
        vector = self.bundle.encoder.encode_one(norm)
        candidates = layers.retrieve(norm, vector, user, use_personal=personal)
        if not candidates:
            decision.reason = "no candidate"
            return decision
        x = feature_matrix(layers, norm, user if personal else None, candidates)
        best, p = self.bundle.ranker.choose(x)
        order = sorted(range(len(candidates)), key=lambda i: -p[i])
        decision.candidates = [
            {
                "text": candidates[i].text,
                "score": round(float(p[i]), 4),
                "layer": "personal" if candidates[i].personal_row is not None else "global",
            }
            for i in order[:10]
        ]
        if best is None:
            decision.score = float(p[order[0]])
            decision.reason = f"best candidate below the threshold {self.bundle.ranker.threshold:.3f}"
            return decision
        chosen = candidates[best]
        decision.rewrite = chosen.text
        decision.rewrite_id = rewrite_id(norm, chosen.text)
        decision.layer = "personal" if chosen.personal_row is not None else "global"
        decision.score = float(p[best])
        decision.reason = "ranker confident"
        return decision
