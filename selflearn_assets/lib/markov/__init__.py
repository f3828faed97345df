"""Absorbing-Markov-chain query rewrites (Ponnusamy et al., AAAI 2020) with the self-aware keep/drop
rule for live rewrites (Ponnusamy et al., NAACL 2022). Plain Python, no Dagster.

| module        | concept                                                                      |
|---------------|------------------------------------------------------------------------------|
| rows          | the per-day `markov_transitions` row: column names, absorbing markers        |
| normalize     | utterance → state text, in Python and as a polars expression                 |
| chain         | the window's absorbing chain: states, Q, r, window counts, exact user counts |
| solve         | absorption probabilities (I − Q)⁻¹ r, component by component, sparse         |
| posterior     | P(Beta > Beta) by deterministic quadrature                                   |
| meaning       | does a target keep the source's meaning: span alignment, phonetics           |
| precision     | a candidate's calibrated precision on audit gold, by meaning-score stratum   |
| select        | the best reachable reformulation per failing utterance, under thresholds     |
| self_aware    | keep/drop verdicts for deployed rewrites                                     |
| params        | `MarkovParams`, every threshold with its default                             |
| mine          | `mine_rewrites`: all of the above, and the report                            |
"""

from selflearn_assets.lib.markov.chain import AbsorbingChain, build_chain
from selflearn_assets.lib.markov.meaning import meaning_score
from selflearn_assets.lib.markov.mine import REWRITE_COLUMNS, mine_rewrites, rewrite_id
from selflearn_assets.lib.markov.normalize import WAKE_WORDS, normalize_expr, normalize_utterance
from selflearn_assets.lib.markov.params import MarkovParams
from selflearn_assets.lib.markov.posterior import prob_beta_greater
from selflearn_assets.lib.markov.precision import GoldEvidence
from selflearn_assets.lib.markov.rows import FAILURE, SUCCESS, window_frame
from selflearn_assets.lib.markov.select import select_rewrites
from selflearn_assets.lib.markov.self_aware import DECISION_COLUMNS, evaluate_deployed
from selflearn_assets.lib.markov.solve import Absorption, absorption_probabilities

__all__ = [
    "DECISION_COLUMNS",
    "FAILURE",
    "GoldEvidence",
    "REWRITE_COLUMNS",
    "SUCCESS",
    "WAKE_WORDS",
    "AbsorbingChain",
    "Absorption",
    "MarkovParams",
    "absorption_probabilities",
    "build_chain",
    "evaluate_deployed",
    "meaning_score",
    "mine_rewrites",
    "normalize_expr",
    "normalize_utterance",
    "prob_beta_greater",
    "rewrite_id",
    "select_rewrites",
    "window_frame",
]
