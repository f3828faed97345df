"""A second world for the simulator: real recorded speech (SLURP) instead of synthesised errors.

Users say real corpus sentences; what the assistant heard is the ASR 1-best of a real recording of
the sentence, and what it understood is the real NLU prediction made from it. The simulator adds the
traffic (who asks what, when, how they retry), the rest of the assistant (ER, fulfilment, the reply),
the labels, and the rewrite hook for A/B replays.

    from selflearn_assets.lib.simulator.corpus import CorpusSimConfig, simulate_corpus
    summary = simulate_corpus(CorpusSimConfig(corpus="../shared/data", users=800, days=5), "data/raw")

Modules: `load` (the corpus and `Corpus.interpret`), `config` (knobs), `assistant` (serving one
request, failure points, replies), `world` (users, sessions, goals, records), `annotate` (labels),
`run` (days -> files, including `_gold/`).
"""

from selflearn_assets.lib.simulator.corpus.config import CorpusSimConfig
from selflearn_assets.lib.simulator.corpus.load import (
    Corpus,
    CorpusError,
    Interpretation,
    Recording,
    Sentence,
    load_corpus,
    parse_annotation,
)
from selflearn_assets.lib.simulator.corpus.run import GOLD_FOLDER, simulate_corpus

__all__ = [
    "GOLD_FOLDER",
    "Corpus",
    "CorpusError",
    "CorpusSimConfig",
    "Interpretation",
    "Recording",
    "Sentence",
    "load_corpus",
    "parse_annotation",
    "simulate_corpus",
]
