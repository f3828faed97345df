"""The label-generation model (Wang et al. COLING 2022; Kachuee et al. NAACL 2021), sized for a CPU.

Each turn becomes a vector from frozen encoder embeddings of its utterance and response, learnt embeddings
of its categorical fields (NLU domain and intent, dialogue status, device type, hour), a bag of device-state
tokens and numeric features. A small dialogue-level Transformer reads the session's turns (padding masked),
and multi-task heads read each turn's own vector beside its contextual one: goal_start, goal_success and
intent per turn, and a slot scorer per slot candidate (`label_slots`: the NLU's slots, their lexicon
resolutions, values in the utterance and, for the contextual model, the slots of neighbouring turns). A
"response fits" head is trained self-supervised on synthetic defects (responses swapped across dialogues),
first alone (pretraining) and then as an auxiliary task beside the supervised heads.

The encoder is frozen and its embeddings precomputed (cached per distinct text), which keeps training on a
laptop CPU to seconds per epoch; fine-tuning the encoder end to end is the GPU variant and not done here.
With `contextual=False` the same features go through a per-turn MLP and slot candidates come from the turn
alone: the non-contextual baseline.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl
import torch
from torch import nn

from selflearn_assets.lib.models import training_loop
from selflearn_assets.lib.models.label_features import (
    CATEGORICALS,
    IGNORE,
    INTENT_EVIDENCE,
    MAX_TURN_POSITION,
    N_NUMERIC,
    FeatureSpec,
    TurnTensors,
    encode,
)
from selflearn_assets.lib.models.label_slots import FEATURES as SLOT_FEATURES
from selflearn_assets.lib.models.label_slots import choose_slots, normalise
from selflearn_assets.lib.models.threads import torch_threads

# Bumped whenever the model's inputs change shape or meaning: a champion trained with another version cannot
# label today's frames (2: label_crowd evidence, intent evidence gates).
FEATURE_VERSION = 2


class IncompatibleModel(ValueError):
    """A stored model whose features no longer match this code."""


def check_compatible(model) -> None:
    """Raise IncompatibleModel when `model` was trained with another FEATURE_VERSION than this code's."""
    found = getattr(model, "feature_version", 1)
    if found != FEATURE_VERSION:
        raise IncompatibleModel(
            f"the label model was trained with feature version {found}, this code needs {FEATURE_VERSION}"
        )


@dataclass
class LabelModelConfig:
    """Every setting of the label model and its training run, each with its one default: the `label_model`
    asset's run config is generated from these fields (`defs/run_config.py`), and the benches use them too."""

    window_days: int = 14  # the latest ingested days that train and evaluate the model (the asset reads them)
    max_sessions: int = 6000  # training sessions (all audited ones first, then a seeded sample)
    d_model: int = 64  # width of the turn vectors, the dialogue Transformer and the heads
    layers: int = 2  # dialogue Transformer layers
    heads: int = 4  # attention heads per layer (must divide d_model)
    dropout: float = 0.1  # of the turn vectors, the Transformer and the slot scorer
    contextual: bool = True  # False: the per-turn MLP baseline (not run config: the run trains both)
    lr: float = 2e-3  # AdamW learning rate
    batch_sessions: int = 32  # sessions per training batch
    epochs: int = 10  # supervised epochs at most (early stopping may end sooner)
    pretrain_epochs: int = 2  # response-swap pretraining before the supervised heads
    swap_rate: float = 0.5  # share of turns whose response is swapped in the contrastive task
    fits_weight: float = 0.3  # weight of the response-fits loss during supervised training
    gold_weight: float = 3.0  # loss weight of a gold-annotated turn relative to a weakly labelled one
    patience: int = 3  # early stopping on validation loss
    val_fraction: float = 0.2  # sessions held out for validation
    seed: int = 0  # the training-session sample, the validation split, initial weights and batch order


class LabelModel(nn.Module):
    def __init__(self, spec: FeatureSpec, text_dim: int, config: LabelModelConfig) -> None:
        super().__init__()
        self.spec, self.config = spec, config
        self.slot_threshold = 0.5  # tuned on validation sessions after training (tune_slot_threshold)
        self.feature_version = FEATURE_VERSION
        d = config.d_model
        self.text = nn.Linear(text_dim, d)
        self.resp = nn.Linear(text_dim, d)
        self.cats = nn.ModuleList(nn.Embedding(len(spec.categories[c]), 16) for c in CATEGORICALS)
        self.hour = nn.Embedding(24, 8)
        self.state = nn.Linear(len(spec.state_tokens), 8)
        width = 2 * d + 16 * len(CATEGORICALS) + 8 + 8 + N_NUMERIC
        self.turn = nn.Sequential(nn.Linear(width, d), nn.GELU(), nn.Dropout(config.dropout), nn.LayerNorm(d))
        if config.contextual:
            self.position = nn.Embedding(MAX_TURN_POSITION, d)
            layer = nn.TransformerEncoderLayer(d, config.heads, 2 * d, config.dropout, batch_first=True)
            self.context = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        else:
            self.context = nn.Sequential(
                nn.Linear(d, d), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(d, d)
            )
        self.goal_start = nn.Linear(2 * d, 1)
        self.goal_success = nn.Linear(2 * d, 1)
        self.intent = nn.Linear(2 * d, len(spec.intents))
        # per turn, how much to trust each source of INTENT_EVIDENCE (added to the intent logits)
        self.intent_gates = nn.Linear(2 * d, len(INTENT_EVIDENCE))
        self.slot_name = nn.Embedding(len(spec.slot_names), 16)
        self.slots = nn.Sequential(
            nn.Linear(2 * d + 16 + len(SLOT_FEATURES), d),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(d, 1),
        )
        self.slot_rule = nn.Linear(len(SLOT_FEATURES), 1)  # a direct path from the candidate's own evidence
        self.fits = nn.Linear(2 * d, 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """batch tensors are (B, T, ...) with `mask` (B, T) True at real turns; returns logits (B, T, ...),
        and for slots one logit per candidate of the batch (K_b,)."""
        cats = [emb(batch["cats"][..., i]) for i, emb in enumerate(self.cats)]
        x = torch.cat(
            [
                self.text(batch["utt"]),
                self.resp(batch["resp"]),
                *cats,
                self.hour(batch["hour"]),
                self.state(batch["state"]),
                batch["nums"],
            ],
            dim=-1,
        )
        own = self.turn(x)
        if self.config.contextual:
            h = self.context(own + self.position(batch["position"]), src_key_padding_mask=~batch["mask"])
        else:
            h = own + self.context(own)
        h = torch.cat([own, h], dim=-1)
        at = h[batch["cand_b"], batch["cand_t"]]
        evidence = batch["cand_features"]
        slots = self.slots(torch.cat([at, self.slot_name(batch["cand_name"]), evidence], dim=-1))
        slots = slots + self.slot_rule(evidence)
        return {
            "goal_start": self.goal_start(h).squeeze(-1),
            "goal_success": self.goal_success(h).squeeze(-1),
            "intent": self.intent(h)
            + (self.intent_gates(h).unsqueeze(-1) * batch["intent_evidence"]).sum(dim=-2),
            "slots": slots.squeeze(-1),
            "fits": self.fits(h).squeeze(-1),
        }


PER_TURN = ("utt", "resp", "cats", "hour", "state", "nums", "intent_evidence", "position")
PER_TURN += ("goal_start", "goal_success", "intent", "gold")
PER_CANDIDATE = ("cand_name", "cand_features", "cand_target", "cand_known")


def collate(data: TurnTensors, sessions: list[tuple[int, int]]) -> dict[str, torch.Tensor]:
    """Pad the given sessions into (B, T, ...) tensors; `rows` maps each cell to its frame row (-1: padding).
    The slot candidates of those turns come flat: `cand_index` (into data's candidates), `cand_b`, `cand_t`
    (their cell) and the PER_CANDIDATE tensors."""
    longest = max(end - start for start, end in sessions)
    rows = torch.full((len(sessions), longest), -1, dtype=torch.long)
    for b, (start, end) in enumerate(sessions):
        rows[b, : end - start] = torch.arange(start, end)
    mask = rows >= 0
    take = rows.clamp(min=0)
    batch = {"rows": rows, "mask": mask}
    for name in PER_TURN:
        batch[name] = getattr(data, name)[take]
    batch["intent"] = batch["intent"].masked_fill(~mask, IGNORE)
    cells = mask.nonzero()  # (M, 2) in row-major order
    starts, ends = data.cand_start[rows[mask]], data.cand_start[rows[mask] + 1]
    counts = ends - starts
    first = torch.repeat_interleave(starts - (torch.cumsum(counts, 0) - counts), counts)
    index = first + torch.arange(int(counts.sum()))
    batch["cand_index"] = index
    batch["cand_b"] = torch.repeat_interleave(cells[:, 0], counts)
    batch["cand_t"] = torch.repeat_interleave(cells[:, 1], counts)
    for name in PER_CANDIDATE:
        batch[name] = getattr(data, name)[index]
    return batch


def swap_responses(batch: dict[str, torch.Tensor], rate: float, gen: torch.Generator):
    """Synthetic defects: a copy of `batch` where a `rate` share of turns has the response of another
    dialogue of the batch, and the "response fits" target (1 kept, 0 swapped)."""
    b, t = batch["mask"].shape
    swap = (torch.rand(b, t, generator=gen) < rate) & batch["mask"]
    corrupted = dict(batch)
    if b > 1:
        # donors: another session of the batch (a roll by 1..b-1), never the turn's own
        shift = int(torch.randint(1, b, (1,), generator=gen))
        swap &= batch["mask"].roll(shift, dims=0)  # only where the donor session has a turn at that position
        donors = batch["resp"].roll(shift, dims=0)
        corrupted["resp"] = torch.where(swap.unsqueeze(-1), donors, batch["resp"])
    else:
        swap[:] = False
    return corrupted, (~swap).float()


def fits_loss(model: LabelModel, batch: dict[str, torch.Tensor], rate: float, gen: torch.Generator):
    """Self-supervised loss of the "response fits" head on a response-swapped copy of the batch."""
    corrupted, target = swap_responses(batch, rate, gen)
    mask = batch["mask"]
    logits = model(corrupted)["fits"]
    return nn.functional.binary_cross_entropy_with_logits(logits[mask], target[mask])


def _weighted(losses: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    return (losses * weights).sum() / weights.sum() if losses.numel() else losses.sum()


def supervised_losses(
    model: LabelModel, batch: dict[str, torch.Tensor], gold_weight: float = 1.0
) -> dict[str, torch.Tensor]:
    """Per-head losses on the clean batch (gold-annotated turns weighted `gold_weight`); intent and slots only
    where a target is known."""
    out = model(batch)
    mask = batch["mask"]
    weight = 1.0 + (gold_weight - 1.0) * batch["gold"].float()
    bce = nn.functional.binary_cross_entropy_with_logits

    def binary(logits, target, where):
        return _weighted(bce(logits[where], target[where], reduction="none"), weight[where])

    parts = {
        "goal_start": binary(out["goal_start"], batch["goal_start"], mask),
        "goal_success": binary(out["goal_success"], batch["goal_success"], mask),
    }
    known = mask & (batch["intent"] != IGNORE)
    ce = nn.functional.cross_entropy(out["intent"][known], batch["intent"][known], reduction="none")
    parts["intent"] = _weighted(ce, weight[known])
    cand_weight = weight[batch["cand_b"], batch["cand_t"]]
    known = batch["cand_known"]
    slot_loss = bce(out["slots"][known], batch["cand_target"][known], reduction="none")
    parts["slots"] = _weighted(slot_loss, cand_weight[known])
    return parts


def split_sessions(data: TurnTensors, val_fraction: float, seed: int):
    """(train, validation) session windows; all windows of a session fall on the same side."""
    ids = sorted(set(data.session_ids))
    random.Random(seed).shuffle(ids)
    n_val = max(1, int(len(ids) * val_fraction)) if len(ids) > 1 else 0
    held_out = set(ids[:n_val])
    train = [r for r, s in zip(data.sessions, data.session_ids, strict=True) if s not in held_out]
    val = [r for r, s in zip(data.sessions, data.session_ids, strict=True) if s in held_out]
    return train, val


def _losses(data: TurnTensors, config: LabelModelConfig, gen: torch.Generator, pretrain: bool = False):
    """The loss of a batch of session windows for `training_loop`: with `pretrain` the response-fits loss
    alone, else every head's plus the response-fits loss at `fits_weight`; the synthetic swaps drawn from
    `gen`."""

    def losses(model: LabelModel, sessions: list[tuple[int, int]]) -> dict[str, torch.Tensor]:
        batch = collate(data, sessions)
        parts = {} if pretrain else supervised_losses(model, batch, config.gold_weight)
        parts["fits"] = fits_loss(model, batch, config.swap_rate, gen)
        supervised = sum(v for k, v in parts.items() if k != "fits")
        return {
            **parts,
            "loss": parts["fits"] if pretrain else supervised + config.fits_weight * parts["fits"],
        }

    return losses


def train_label_model(
    frames: pl.DataFrame, config: LabelModelConfig, embedder, progress: bool = True
) -> tuple[LabelModel, list[dict[str, float]], dict[str, float]]:
    """Fit the spec on `frames`, pretrain the response-fits head, then train all heads with early stopping on
    a validation split by session (`training_loop.fit`; both phases share one optimizer). Returns (the model
    with the best validation loss, the per-epoch history: pretraining rows (`phase_pretrain` 1) then supervised
    ones, metrics). Metric `epochs_run` counts the supervised epochs run, `pretrain_epochs_run` the pretraining
    ones."""
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    spec = FeatureSpec.fit(frames)
    data = encode(frames, spec, embedder, contextual=config.contextual, progress=progress)
    model = LabelModel(spec, embedder.dim, config)
    train, val = split_sessions(data, config.val_fraction, config.seed)
    held = val or train
    name = "label model" if config.contextual else "label baseline (non-contextual)"

    def batches():
        return training_loop.chunks(training_loop.shuffled(train, gen), config.batch_sessions)

    def validate(m) -> dict[str, float]:  # the same synthetic swaps every epoch
        losses = _losses(data, config, torch.Generator().manual_seed(1))
        means = training_loop.run_epoch(m, training_loop.chunks(held, config.batch_sessions), losses)
        return training_loop.loss_names("val", means)

    pretraining = training_loop.fit(
        model, batches, _losses(data, config, gen, pretrain=True), epochs=config.pretrain_epochs, lr=config.lr,
        desc=f"{name} (pretraining)", progress=progress,
        row=lambda epoch, means: {"epoch": epoch, "phase_pretrain": 1.0, "pretrain_fits_loss": means["fits"]},
    )  # fmt: skip
    supervised = training_loop.fit(
        model, batches, _losses(data, config, gen), epochs=config.epochs, optimizer=pretraining.optimizer,
        validate=validate, patience=config.patience, desc=name, progress=progress,
        row=lambda epoch, means: {"epoch": config.pretrain_epochs + epoch, "phase_pretrain": 0.0,
                                  **training_loop.loss_names("train", means)},
    )  # fmt: skip
    model.slot_threshold, val_slot_accuracy = tune_slot_threshold(model, data, frames, held)
    metrics = {
        "best_val_loss": float("inf") if supervised.best_score is None else supervised.best_score,
        "slot_threshold": model.slot_threshold,
        "val_slot_accuracy": val_slot_accuracy,
        "epochs_run": float(supervised.epochs_run),
        "pretrain_epochs_run": float(pretraining.epochs_run),
        "n_train_sessions": float(len(train)),
    }
    metrics |= {"n_val_sessions": float(len(val)), "n_intents": float(len(spec.intents))}
    return model, pretraining.history + supervised.history, metrics


# sessions (windows) per batch of `probabilities`: padded together, so in float32 a turn's probabilities
# depend in their last bits on the other sessions of its batch
BATCH_SESSIONS = 64
SLOT_THRESHOLDS = tuple(round(0.2 + 0.05 * i, 2) for i in range(13))  # 0.2 .. 0.8


@torch.no_grad()
def probabilities(
    model: LabelModel, data: TurnTensors, sessions, batch_sessions: int = BATCH_SESSIONS
) -> dict[str, np.ndarray]:
    """Probabilities of the rows of `sessions` (zero elsewhere): goal_start, goal_success (N,), intent (N, C),
    and slots (K,) per slot candidate."""
    n = len(data.goal_start)
    out = {
        "goal_start": np.zeros(n, np.float32),
        "goal_success": np.zeros(n, np.float32),
        "intent": np.zeros((n, len(model.spec.intents)), np.float32),
        "slots": np.zeros(len(data.candidates), np.float32),
    }
    model.eval()
    with torch_threads(1):
        for start in range(0, len(sessions), batch_sessions):
            batch = collate(data, sessions[start : start + batch_sessions])
            logits = model(batch)
            mask, rows = batch["mask"], batch["rows"][batch["mask"]].numpy()
            out["goal_start"][rows] = torch.sigmoid(logits["goal_start"][mask]).numpy()
            out["goal_success"][rows] = torch.sigmoid(logits["goal_success"][mask]).numpy()
            out["intent"][rows] = torch.softmax(logits["intent"][mask], dim=-1).numpy()
            out["slots"][batch["cand_index"].numpy()] = torch.sigmoid(logits["slots"]).numpy()
    return out


def tune_slot_threshold(
    model: LabelModel, data: TurnTensors, frames: pl.DataFrame, sessions
) -> tuple[float, float]:
    """The slot threshold (of SLOT_THRESHOLDS) with the best exact-set accuracy on the given (validation)
    sessions' turns with a slot target, gold-annotated turns only when there are at least 50 of them; ties go
    to the threshold nearest 0.5. Returns (threshold, that accuracy); (0.5, nan) without scorable turns."""
    p = probabilities(model, data, sessions)["slots"]
    rows = np.concatenate([np.arange(a, b) for a, b in sessions]) if sessions else np.zeros(0, np.int64)
    targets = frames["slots_target"].to_list()
    gold = data.gold.numpy()
    rows = [r for r in rows if targets[r] is not None]
    if sum(gold[r] for r in rows) >= 50:
        rows = [r for r in rows if gold[r]]
    if not rows:
        return 0.5, float("nan")
    truth = [{(t["name"], normalise(t["value"])) for t in targets[r]} for r in rows]
    best = (-1.0, 0.0, 0.5)
    for threshold in SLOT_THRESHOLDS:
        chosen, _ = choose_slots(data.candidates, p, frames.height, threshold)
        accuracy = float(
            np.mean(
                [{(s["name"], s["value"]) for s in chosen[r]} == t for r, t in zip(rows, truth, strict=True)]
            )
        )
        best = max(best, (accuracy, -abs(threshold - 0.5), threshold))
    return best[2], best[0]


def config_params(config: LabelModelConfig) -> dict[str, object]:
    """The config as MLflow params."""
    return asdict(config)
