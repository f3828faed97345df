"""The online rewriter: `Rewriter.load(exports).rewrite(user_id, text) -> RewriteDecision`.

For one request, in order:

1. the text is normalised as a Markov state is (`markov.normalize`); empty (or only a wake word): no rewrite;
2. the **table** layer: the exported Markov table's exact match, as the runtime has always done;
3. the **global** and **personal** layers: the request is encoded (static encoder), candidates retrieved from
   the global index and from this user's own entries (`layers.Layers.retrieve`), scored by the ranker, and the
   best one applied only if its calibrated P(right) clears the ranker's threshold. A candidate the user has
   said themselves is credited to the personal layer.

`user_id` is the id as the logs carry it; it is pseudonymised inside with the platform's key, exactly as
ingestion does (`left(sha256(key || ':' || id), 16)`), so the personal entries of the logs are found and no
raw id is kept. `layers` limits which layers may answer (the A/B arms: `("table",)`, `("table", "global")`,
all three). Any input gets a decision, never an exception: text that is not a string, is empty, or is longer
than `MAX_TEXT_CHARS` is refused with a reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from selflearn_assets.lib.ingest.pseudonym_keys import key_fingerprint
from selflearn_assets.lib.markov.mine import rewrite_id
from selflearn_assets.lib.markov.normalize import normalize_utterance
from selflearn_assets.lib.online.bundle import Bundle, BundleError, load_bundle, serving_bundle
from selflearn_assets.lib.online.features import feature_matrix
from selflearn_assets.lib.rewrites.export import MANIFEST as TABLE_MANIFEST
from selflearn_assets.lib.rewrites.export import TABLE, serving_export

ALL_LAYERS = ("table", "global", "personal")
MAX_TEXT_CHARS = 1000


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
        self, bundle: Bundle | None, table: pl.DataFrame | None, pseudonym_key: str, layers=ALL_LAYERS
    ):
        unknown = set(layers) - set(ALL_LAYERS)
        if unknown:
            raise ValueError(f"unknown layers {sorted(unknown)}; layers are {ALL_LAYERS}")
        self.bundle = bundle
        self.key = pseudonym_key
        self.layers = tuple(layers)
        self.table: dict[str, tuple[str, str, float | None]] = {}
        if table is not None:
            for src, dst, rid, conf in table.select(
                "source_text", "rewrite_text", "rewrite_id", "confidence"
            ).iter_rows():
                self.table[src] = (dst, rid, conf)

    def restricted(self, layers) -> Rewriter:
        """This rewriter with only `layers` answering (an A/B arm), sharing its loaded bundle and table."""
        arm = Rewriter(self.bundle, None, self.key, layers)
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
    ) -> Rewriter:
        """From an exports root: the online bundle and rewrite table being served (the pinned day's, else the
        newest; `selflearn pin`), or the folders given. A bundle built with another pseudonym key is refused:
        its personal entries would match nobody, silently."""
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
        rewriter = cls(bundle, frame, pseudonym_key, layers)
        rewriter.sources = {
            "online": str(online_folder) if bundle else None,
            "table": str(table_folder) if frame is not None else None,
        }
        return rewriter

    def rewrite(self, user_id, text, context: dict | None = None) -> RewriteDecision:
        """The decision for `text` said by `user_id` (the id as the logs carry it); `context` is reserved for
        the request's dialogue context and not used yet."""
        decision, done = self._table(text)
        if done:
            return decision
        user = pseudonymize(self.key, str(user_id)) if user_id not in (None, "") else None
        return self._online(decision, user)

    def rewrite_pseudonymous(self, user: str | None, text) -> RewriteDecision:
        """As `rewrite`, for a user id already pseudonymised (the warehouse's): offline evaluation and replay."""
        decision, done = self._table(text)
        return decision if done else self._online(decision, user)

    def _table(self, text) -> tuple[RewriteDecision, bool]:
        """The decision as far as bad input and the table go, and whether it is final."""
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
