"""The Markov rewrite miner on chains small enough to solve by hand."""

from __future__ import annotations

import random
from datetime import date, timedelta
from fractions import Fraction
from math import factorial

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from scipy import integrate, stats
from scipy.sparse.linalg import spsolve

from selflearn_assets.lib.markov import (
    FAILURE,
    SUCCESS,
    MarkovParams,
    absorption_probabilities,
    build_chain,
    evaluate_deployed,
    mine_rewrites,
    normalize_expr,
    normalize_utterance,
    prob_beta_greater,
    rewrite_id,
    window_frame,
)

D0 = date(2026, 3, 1)
# For windows of one-letter utterances ("x" → "y"): the meaning gate would (rightly) reject every such
# rewrite; these tests are about the chain, so they switch it off (test_markov_meaning.py tests it).
SYMBOLIC = MarkovParams(min_meaning_score=0.0)
SCHEMA = {
    "day": pl.Date,
    "src": pl.String,
    "dst": pl.String,
    "rewritten": pl.Boolean,
    "rewrite_id": pl.String,
    "n_transitions": pl.Int64,
    "n_sessions": pl.Int64,
    "users": pl.List(pl.String),
}


def row(src, dst, n, users, day=0, sessions=None, rewritten=False, rid=None) -> dict:
    users = [f"u{u}" for u in users] if not isinstance(users, int) else [f"u{u}" for u in range(users)]
    return {
        "day": D0 + timedelta(days=day),
        "src": src,
        "dst": dst,
        "rewritten": rewritten,
        "rewrite_id": rid,
        "n_transitions": n,
        "n_sessions": sessions if sessions is not None else n,
        "users": users,
    }


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA)


# ---------------------------------------------------------------- the hand-solved chain
A, B, C, D, E = (
    "play maj and dragons",
    "play imagine dragon",
    "play imagine dragons",
    "play dragons music",
    "turn of the lights",
)


def hand_rows() -> list[dict]:
    """Window counts (per source, out of N):

    A (N=75): A→A 15, A→B 24 (two days), A→D 12, A→FAILURE 24
    B (N=40): B→C 20, B→A 10, B→SUCCESS 10
    C (N=50): C→SUCCESS 45, C→FAILURE 5
    D (N=20): D→SUCCESS 10, D→FAILURE 10
    E (N=10): E→SUCCESS 3, E→FAILURE 7          (its own component)
    """
    return [
        row(A, A, 15, [1, 2, 3]),
        row(A, B, 12, [1, 2, 3, 4], day=0, sessions=11),
        row(A, B, 12, [3, 4, 5, 6], day=1, sessions=12),  # window users of A→B: u1..u6 = 6
        row(A, D, 12, [1, 2, 3, 4, 5, 6]),
        row(A, FAILURE, 24, [1, 2, 3, 4, 5, 6, 7]),
        row(B, C, 20, [1, 2, 3, 4, 5], sessions=18),
        row(B, A, 10, [1, 2, 3, 4, 5]),
        row(B, SUCCESS, 10, [1, 2, 3, 4, 5]),
        row(C, SUCCESS, 40, [1, 2, 3, 4, 5], day=0),
        row(C, SUCCESS, 5, [4, 5, 6], day=1),
        row(C, FAILURE, 5, [6, 7]),  # C said by u1..u7 = 7
        row(D, SUCCESS, 10, [1, 2, 3, 4, 5, 6]),
        row(D, FAILURE, 10, [1, 2, 3, 4, 5, 6]),
        row(E, SUCCESS, 3, [8, 9, 10]),
        row(E, FAILURE, 7, [8, 9, 10, 11, 12]),
    ]


# First-step analysis, p_X = P(SUCCESS) from X:
#   p_C = 45/50 = 9/10,  p_D = 10/20 = 1/2,  p_E = 3/10
#   p_B = 10/40 + 20/40 p_C + 10/40 p_A = 7/10 + p_A/4
#   p_A = 15/75 p_A + 24/75 p_B + 12/75 p_D
#     => (4/5) p_A = (8/25)(7/10 + p_A/4) + 2/25 = 76/250 + (2/25) p_A
#     => (18/25) p_A = 76/250  =>  p_A = 19/45,  p_B = 7/10 + 19/180 = 29/36
HAND_P = {A: 19 / 45, B: 29 / 36, C: 9 / 10, D: 1 / 2, E: 3 / 10}


def test_absorption_probabilities_of_the_hand_chain():
    chain = build_chain(window_frame(frame(hand_rows())))
    absorption = absorption_probabilities(chain.q, chain.r_success, chain.r_failure)
    got = dict(zip(chain.texts.to_list(), absorption.success, strict=True))
    assert got == pytest.approx(HAND_P, abs=1e-9)
    assert absorption.n_components == 2  # {A, B, C, D} and {E}
    assert absorption.largest_component == 4
    assert absorption.max_residual < 1e-12


# A source is judged by how often it succeeds as said, its direct P(→ SUCCESS):
HAND_DIRECT = {A: 0 / 75, B: 10 / 40, C: 45 / 50, D: 10 / 20, E: 3 / 10}


def beta_reference(s_x: int, f_x: int, s_y: int, f_y: int) -> float:
    """P(Beta(1 + s_x, 1 + f_x) > Beta(1 + s_y, 1 + f_y)) by adaptive quadrature (scipy)."""
    return integrate.quad(
        lambda t: stats.beta.pdf(t, 1 + s_y, 1 + f_y) * stats.beta.sf(t, 1 + s_x, 1 + f_x), 0, 1, epsabs=1e-13
    )[0]


def test_hand_chain_rewrites_a_and_b_to_c():
    table, report = mine_rewrites(frame(hand_rows()))
    # Sources (direct success <= 0.5): A (0), B (0.25), D (0.5, the bound itself), E (0.3).
    # A reaches B (24 >= 10 transitions, 6 users) and D (12 transitions, 6 users) in one hop and C
    # through B (20 transitions, 5 users) in two; B reaches C and A in one hop. C has the highest p.
    # D and E never rephrase into another utterance.
    got = {r["source_text"]: r for r in table.iter_rows(named=True)}
    assert set(got) == {A, B}
    a, b = got[A], got[B]
    assert (a["rewrite_text"], a["hops"], b["rewrite_text"], b["hops"]) == (C, 2, C, 1)
    assert a["source_success_prob"] == 0.0
    assert b["source_success_prob"] == pytest.approx(0.25, abs=1e-12)
    assert a["rewrite_success_prob"] == pytest.approx(HAND_P[C], abs=1e-9)
    assert (a["support_users"], b["support_users"]) == (5, 5)  # min(6 on A→B, 5 on B→C); B→C
    assert (a["support_transitions"], b["support_transitions"]) == (20, 20)  # min(24, 20); 20
    assert (a["support_sessions"], b["support_sessions"]) == (18, 18)  # min(11 + 12, 18); 18
    assert a["target_users"] == b["target_users"] == 7
    assert (a["rewrite_id"], b["rewrite_id"]) == (rewrite_id(A, C), rewrite_id(B, C))
    assert a["origin"] == b["origin"] == "mined"
    # Confidence: C said 50 times, 0.9 of them ending well (45); A said 75 times, 0 direct
    # successes; B 40 times, 10.
    assert a["confidence"] == pytest.approx(beta_reference(45, 5, 0, 75), abs=1e-9)
    assert b["confidence"] == pytest.approx(beta_reference(45, 5, 10, 30), abs=1e-9)
    assert report["n_states"] == 5
    assert report["n_sources"] == 4
    assert report["n_rejected_by_reason"]["no_reformulation"] == 2  # D and E
    assert report["n_rewrites"] == 2


def test_confidence_is_the_posterior_probability_that_the_rewrite_wins():
    # x: said 40 times, 12 direct successes, rephrased into y 20 times; y: said 20 times, 12 successes.
    rows = [
        row("x", "y", 20, 6),
        row("x", SUCCESS, 12, 6),
        row("x", FAILURE, 8, 6),
        row("y", SUCCESS, 12, 6),
        row("y", FAILURE, 8, 6),
    ]
    table, _ = mine_rewrites(frame(rows), SYMBOLIC)
    got = table.row(0, named=True)
    assert (got["source_success_prob"], got["rewrite_success_prob"]) == pytest.approx((0.3, 0.6))
    # P(Beta(13, 9) > Beta(13, 29)), exactly (closed form, rationals).
    assert got["confidence"] == pytest.approx(float(exact_prob_greater(13, 9, 13, 29)), abs=1e-12)
    assert 0.98 < got["confidence"] < 0.99  # 0.98614...


def test_max_hops_one_keeps_no_chain():
    table, report = mine_rewrites(frame(hand_rows()), MarkovParams(max_hops=1))
    # In one hop A's best is B (p 0.806, gain 0.806) and B's is C (gain 0.65). A → B and B → C would
    # chain; A → B has more gain, so B → C goes.
    assert table.select("source_text", "rewrite_text", "hops").rows() == [(A, B, 1)]
    assert table["support_users"][0] == 6
    assert report["n_rejected_by_reason"]["chain_or_cycle"] == 1


@pytest.mark.parametrize(
    ("params", "expected", "reason", "n_rejected"),
    [
        (MarkovParams(min_target_success=0.85), {A: C, B: C}, None, 0),
        (MarkovParams(min_target_success=0.95), {}, "target_success", 2),  # p_C = 0.9, p_B = 0.806
        (MarkovParams(min_gain=0.64), {A: C, B: C}, None, 0),  # gains: A→C 0.9, B→C 0.65
        (MarkovParams(min_gain=0.66), {A: C}, "gain", 1),
        (MarkovParams(min_support_transitions=20), {A: C, B: C}, None, 0),  # bottleneck: 20
        # A→B 24, B→C 20 (without the neighbour channel, which needs no path: see test_markov_meaning.py)
        (MarkovParams(min_support_transitions=25, neighbours=False), {}, "support", 2),
        (MarkovParams(max_source_success=0.2), {A: C}, None, 0),  # B succeeds directly 0.25
    ],
)
def test_thresholds(params, expected, reason, n_rejected):
    table, report = mine_rewrites(frame(hand_rows()), params)
    assert dict(table.select("source_text", "rewrite_text").rows()) == expected
    if reason:
        assert report["n_rejected_by_reason"][reason] == n_rejected


# ---------------------------------------------------------------- privacy (k-anonymity)
def two_state_rows(edge_users: int, target_users: int) -> list[dict]:
    """X (p = 0) is rephrased into Y (p = 1) 20 times."""
    return [
        row("x", "y", 20, edge_users),
        row("x", FAILURE, 20, 8),
        row("y", SUCCESS, 20, target_users),
    ]


@pytest.mark.parametrize("k", [2, 5, 10])
def test_privacy_needs_k_users_on_the_path_and_the_target(k):
    params = MarkovParams(min_users=k, min_meaning_score=0.0, unsafe_min_users=k < 5)
    table, _ = mine_rewrites(frame(two_state_rows(k, k)), params)
    assert table.select("source_text", "rewrite_text").rows() == [("x", "y")]
    assert (table["support_users"][0], table["target_users"][0]) == (k, k)

    table, report = mine_rewrites(frame(two_state_rows(k - 1, k)), params)
    assert table.height == 0 and report["n_rejected_by_reason"]["privacy_path"] == 1

    table, report = mine_rewrites(frame(two_state_rows(k, k - 1)), params)
    assert table.height == 0 and report["n_rejected_by_reason"]["privacy_target"] == 1


def test_privacy_counts_users_across_days_once():
    # Five day rows of the same two users: 10 list entries, 2 distinct users.
    rows = [row("x", "y", 4, [1, 2], day=d) for d in range(5)]
    rows += [row("x", FAILURE, 20, 8), row("y", SUCCESS, 20, 8)]
    table, report = mine_rewrites(frame(rows), SYMBOLIC)
    assert table.height == 0
    assert report["n_rejected_by_reason"]["privacy_path"] == 1


# ---------------------------------------------------------------- no self-rewrites, no cycles
def test_mutual_rephrases_give_one_rewrite_not_a_cycle():
    # x and y are rephrased into each other; each succeeds directly 0.4 and ends well with
    # p = 0.4 + 0.5 p = 0.8, so each looks like the other's rewrite (gain 0.4): keep one of them.
    rows = []
    for s, t in (("x", "y"), ("y", "x")):
        rows += [row(s, t, 50, 6), row(s, SUCCESS, 40, 6), row(s, FAILURE, 10, 6)]
    table, report = mine_rewrites(frame(rows), SYMBOLIC)
    assert table.select("source_text", "rewrite_text").rows() == [("x", "y")]  # tie: text order
    assert table["rewrite_success_prob"][0] == pytest.approx(0.8)
    assert report["n_rejected_by_reason"]["chain_or_cycle"] == 1


def test_rewrites_raise_success_and_form_no_chain_or_cycle():
    rng = random.Random(7)
    states = [f"s{i}" for i in range(40)]
    rows = []
    for s in states:
        for t in rng.sample(states, 4):  # may include s itself: a repeat
            rows.append(row(s, t, rng.randint(10, 30), rng.randint(5, 9)))
        rows.append(row(s, SUCCESS, rng.randint(0, 30) + 1, rng.randint(5, 9)))
        rows.append(row(s, FAILURE, rng.randint(0, 30) + 1, rng.randint(5, 9)))
    params = MarkovParams(min_gain=0.0, min_target_success=0.0, max_source_success=1.0)
    table, report = mine_rewrites(frame(rows), params)
    assert table.height > 5
    assert report["n_rejected_by_reason"]["chain_or_cycle"] > 0  # the guard had work to do
    assert (table["source_text"] != table["rewrite_text"]).all()
    assert (table["rewrite_success_prob"] > table["source_success_prob"]).all()
    # No utterance is both a source and a target, so following rewrites stops after one step.
    assert set(table["source_text"]).isdisjoint(table["rewrite_text"])


# ---------------------------------------------------------------- solver
def random_components(rng: np.random.Generator, n_comp: int, max_size: int):
    """Q and r of n_comp disjoint random components with sizes 1..max_size."""
    sizes = rng.integers(1, max_size + 1, n_comp)
    sizes[:10] = 1
    n = int(sizes.sum())
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    rows, cols = [], []
    for a, s in zip(starts, sizes, strict=True):
        for i in range(s):
            for j in rng.choice(s, size=min(s, 3), replace=False):
                rows.append(a + i)
                cols.append(a + j)
    weights = rng.random(len(rows)) + 0.1
    exits = rng.random((n, 2)) * np.where(rng.random((n, 1)) < 0.7, 1.0, 0.01)  # every state can end
    total = np.bincount(rows, weights=weights, minlength=n) + exits.sum(axis=1)
    q = sp.csr_matrix((weights / total[rows], (rows, cols)), shape=(n, n))
    return q, exits[:, 0] / total, exits[:, 1] / total


@pytest.mark.parametrize(
    ("dense_max", "lu_max", "methods"),
    [
        (1, 1000, {"closed_form", "sparse_lu"}),
        (4, 1000, {"closed_form", "dense_batch", "sparse_lu"}),
        (64, 1000, {"closed_form", "dense_batch", "sparse_lu"}),
        (8, 30, {"closed_form", "dense_batch", "sparse_lu", "iterative"}),
        (1, 1, {"closed_form", "iterative"}),
    ],
)
def test_component_solves_match_one_global_solve(dense_max, lu_max, methods):
    q, r_s, r_f = random_components(np.random.default_rng(3), n_comp=300, max_size=80)
    absorption = absorption_probabilities(q, r_s, r_f, dense_max=dense_max, lu_max=lu_max)
    reference = spsolve((sp.identity(q.shape[0], format="csc") - q).tocsc(), r_s)
    assert absorption.n_trapped == 0
    assert absorption.n_components >= 300
    assert np.abs(absorption.success - reference).max() < 1e-10
    assert {m for m, n in absorption.components_by_method.items() if n} == methods


def test_states_that_cannot_be_absorbed_get_zero():
    # 0 → 1 → 2 ⇄ 3 (never absorbed), 0 and 1 also end in SUCCESS/FAILURE; 4 is a lone exit.
    q = sp.csr_matrix(([0.5, 0.5, 1.0, 1.0], ([0, 1, 2, 3], [1, 2, 3, 2])), shape=(5, 5))
    r_s = np.array([0.25, 0.5, 0.0, 0.0, 1.0])
    r_f = np.array([0.25, 0.0, 0.0, 0.0, 0.0])
    absorption = absorption_probabilities(q, r_s, r_f)
    # p_1 = 0.5 + 0.5·p_2 = 0.5, p_0 = 0.25 + 0.5·p_1 = 0.5
    assert absorption.success == pytest.approx([0.5, 0.5, 0.0, 0.0, 1.0], abs=1e-12)
    assert absorption.n_trapped == 2
    assert list(absorption.component[2:4]) == [-1, -1]


def test_dangling_state_counts_as_failure():
    rows = [row("x", "z", 10, 5), row("x", SUCCESS, 10, 5)]  # z is never a src
    chain = build_chain(window_frame(frame(rows)))
    z = chain.texts.to_list().index("z")
    assert chain.dangling[z] and chain.r_failure[z] == 1.0
    absorption = absorption_probabilities(chain.q, chain.r_success, chain.r_failure)
    assert absorption.success[chain.texts.to_list().index("x")] == pytest.approx(0.5)


# ---------------------------------------------------------------- self-aware keep/drop
def exact_prob_greater(ax: int, bx: int, ay: int, by: int) -> Fraction:
    """P(X > Y), X ~ Beta(ax, bx), Y ~ Beta(ay, by), integer ax (closed form, exact rationals):
    Σ_{i<ax} B(ay+i, bx+by) / ((bx+i) B(1+i, bx) B(ay, by))."""

    def beta(a: int, b: int) -> Fraction:
        return Fraction(factorial(a - 1) * factorial(b - 1), factorial(a + b - 1))

    return sum(
        (beta(ay + i, bx + by) / ((bx + i) * beta(1 + i, bx) * beta(ay, by)) for i in range(ax)), Fraction(0)
    )


def self_aware_rows(rewritten: tuple[int, int], source: tuple[int, int], with_id: bool = True) -> list[dict]:
    """Turns of "x": (successes, defects) when rewritten to "y" and when not. Defects are split
    between FAILURE and a rephrase, which counts as a defect too."""
    rid = rewrite_id("x", "y") if with_id else None
    (rs, rf), (ss, sf) = rewritten, source
    return [
        row("x", SUCCESS, rs, 6, rewritten=True, rid=rid),
        row("x", FAILURE, rf - rf // 2, 6, rewritten=True, rid=rid),
        row("x", "x please", rf // 2, 6, rewritten=True, rid=rid),
        row("x", SUCCESS, ss, 6),
        row("x", FAILURE, sf - sf // 2, 6),
        row("x", "x please", sf // 2, 6),
    ]


DEPLOYED = pl.DataFrame({"rewrite_id": [rewrite_id("x", "y")], "source_text": ["x"], "rewrite_text": ["y"]})


@pytest.mark.parametrize("with_id", [True, False])
def test_self_aware_keeps_a_clearly_better_rewrite(with_id):
    rows = window_frame(frame(self_aware_rows((40, 10), (10, 40), with_id)))
    got = evaluate_deployed(rows, DEPLOYED, MarkovParams()).row(0, named=True)
    assert (got["rewritten_successes"], got["rewritten_failures"]) == (40, 10)
    assert (got["source_successes"], got["source_failures"]) == (10, 40)
    assert got["prob_rewrite_better"] > 0.999999
    assert (got["decision"], got["reason"]) == ("keep", "better")


def test_self_aware_drops_a_clearly_worse_rewrite():
    rows = window_frame(frame(self_aware_rows((10, 40), (25, 25))))
    got = evaluate_deployed(rows, DEPLOYED, MarkovParams()).row(0, named=True)
    assert got["prob_rewrite_better"] < 0.001
    assert (got["decision"], got["reason"]) == ("drop", "worse")


def test_self_aware_posterior_against_the_exact_value():
    # Rewritten 14 successes / 6 defects, source 9 / 11: P(Beta(15, 7) > Beta(10, 12)) is rational.
    rows = window_frame(frame(self_aware_rows((14, 6), (9, 11))))
    got = evaluate_deployed(rows, DEPLOYED, MarkovParams()).row(0, named=True)
    exact = exact_prob_greater(15, 7, 10, 12)
    assert exact == Fraction(1241941, 1319790)  # = 0.94101410..., also scipy.integrate.quad's value
    assert got["prob_rewrite_better"] == pytest.approx(float(exact), abs=1e-12)
    assert got["decision"] == "keep"  # 0.941 >= 0.8
    got = evaluate_deployed(rows, DEPLOYED, MarkovParams(keep_threshold=0.95)).row(0, named=True)
    assert got["decision"] == "drop"


def test_self_aware_waits_for_evidence():
    rows = window_frame(frame(self_aware_rows((2, 8), (10, 10))))  # 10 rewritten turns < 20
    got = evaluate_deployed(rows, DEPLOYED, MarkovParams()).row(0, named=True)
    assert (got["decision"], got["reason"]) == ("keep", "insufficient_evidence")


@pytest.mark.parametrize(
    "params",
    [
        (1, 1, 1, 1),
        (2, 1, 1, 1),
        (11, 3, 4, 9),
        (1, 50, 1, 1),
        (91, 11, 1, 1),
        (200, 800, 3, 7),
        (1, 1, 300, 2),
    ],
)
def test_beta_comparison_matches_the_closed_form(params):
    assert prob_beta_greater(*params)[0] == pytest.approx(float(exact_prob_greater(*params)), abs=1e-12)


def test_mine_blocks_dropped_rewrites_and_carries_kept_ones():
    # Organic traffic says x → y is a good rewrite, but live traffic shows it failing: dropped.
    rows = two_state_rows(6, 6) + self_aware_rows((5, 45), (20, 30))
    table, report = mine_rewrites(frame(rows), SYMBOLIC, deployed=DEPLOYED)
    assert table.height == 0
    assert report["n_rejected_by_reason"]["blocked"] == 1
    assert report["self_aware"] == {
        "n_deployed": 1,
        "n_kept": 0,
        "n_dropped": 1,
        "n_insufficient_evidence": 0,
    }
    # A kept live rewrite of a source nothing else rewrites is carried over as it was.
    live = pl.DataFrame(
        {"rewrite_id": ["r1"], "source_text": ["q"], "rewrite_text": ["w"], "confidence": [0.9]}
    )
    table, _ = mine_rewrites(frame(two_state_rows(6, 6)), SYMBOLIC, deployed=live)
    assert table.select("source_text", "rewrite_text", "origin").rows() == [
        ("q", "w", "deployed"),
        ("x", "y", "mined"),
    ]
    assert table.filter(pl.col("origin") == "deployed")["confidence"].to_list() == [0.9]


# ---------------------------------------------------------------- normalisation
TRICKY = [
    "Alexa, play Imagine Dragons!",
    "Ａｌｅｘａ，ＰＬＡＹ　ｍｕｓｉｃ",
    "hey alexa what's the weather",
    "Hey   Alexa",
    "alexander the great",
    "play ‘Don’t Stop Me Now’",
    "rock'n'roll 'til dawn dogs' ''' x''y",
    "ΟΔΟΣ ΣΑΣ",
    "İstanbul ß STRASSE",
    "café vs cafe\u0301",
    "ﬁve ½ ① ²",
    "tab\tnew\nline\u00a0nbsp\u2003em",
    "emoji 🎵 music ™ © #1 $5 50% a&b c_d e-f",
    "   ",
    "'",
    "\u0301leading mark",
    "",
]


def test_python_and_polars_normalisation_agree():
    rng = random.Random(11)
    alphabet = list("aZ09 '’‘ʼ`´-_.,!?\t\n\u00a0\u3000ﬁ½Σσςİ\u0301é🎵") + ["alexa ", "hey alexa "]
    fuzz = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(2000)]
    texts = TRICKY + fuzz
    vectorised = pl.DataFrame({"t": texts}).select(normalize_expr("t"))["t"].to_list()
    mismatches = [
        (t, normalize_utterance(t), v)
        for t, v in zip(texts, vectorised, strict=True)
        if normalize_utterance(t) != v
    ]
    assert mismatches == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Alexa, play Imagine Dragons!", "play imagine dragons"),
        ("Ａｌｅｘａ，ＰＬＡＹ　ｍｕｓｉｃ", "play music"),
        ("hey alexa what’s the weather?", "what's the weather"),
        ("alexander the great", "alexander the great"),
        ("rock'n'roll 'til dawn dogs' ''' x''y", "rock'n'roll til dawn dogs x y"),
        ("ΟΔΟΣ", "οδος"),
        ("ﬁve ½", "five 1 2"),
        ("emoji 🎵 music ™ a&b c_d", "emoji music tm a b c d"),
        ("alexa alexa stop", "alexa stop"),
        (None, ""),
        (SUCCESS, "success"),  # an utterance can never be an absorbing marker
    ],
)
def test_normalize_utterance(text, expected):
    assert normalize_utterance(text) == expected


# ---------------------------------------------------------------- edges of the input
def test_empty_window_gives_an_empty_table():
    table, report = mine_rewrites(pl.DataFrame(schema=SCHEMA))
    assert table.height == 0
    assert "rewrite_text" in table.columns and "confidence" in table.columns
    assert report["n_states"] == 0 and report["n_rewrites"] == 0 and report["n_components"] == 0


def test_missing_column_is_a_clear_error():
    with pytest.raises(ValueError, match="users"):
        mine_rewrites(frame(hand_rows()).drop("users"))


def test_rewritten_rows_do_not_enter_the_chain():
    rows = frame(hand_rows()).with_columns(pl.lit(None, dtype=pl.String).alias("rewrite_id"))
    extra = frame([row(A, SUCCESS, 1000, 50, rewritten=True, rid="r")])
    table, report = mine_rewrites(pl.concat([rows, extra]))
    assert dict(table.select("source_text", "source_success_prob").rows()) == {A: 0.0, B: 0.25}
    assert report["n_rows_rewritten"] == 1


@pytest.mark.parametrize("kind", ["arrow", "lazy"])
def test_pyarrow_and_lazy_input_without_rewrite_id_column(kind):
    rows = frame(hand_rows()).drop("rewrite_id")
    table, _ = mine_rewrites(rows.to_arrow() if kind == "arrow" else rows.lazy())
    assert dict(table.select("source_text", "rewrite_text").rows()) == {A: C, B: C}


def test_iterative_solve_falls_back_to_lu_when_its_residual_is_too_big(monkeypatch):
    import selflearn_assets.lib.markov.solve as solve

    monkeypatch.setattr(solve, "bicgstab", lambda system, b, **_: (np.zeros_like(b), 0))
    q, r_s, r_f = random_components(np.random.default_rng(5), n_comp=50, max_size=80)
    absorption = solve.absorption_probabilities(q, r_s, r_f, dense_max=8, lu_max=30)
    reference = spsolve((sp.identity(q.shape[0], format="csc") - q).tocsc(), r_s)
    assert np.abs(absorption.success - reference).max() < 1e-10
    assert absorption.components_by_method["iterative"] == 0
    assert absorption.components_by_method["iterative_then_lu"] > 0


@pytest.mark.parametrize("live", [("w", "x"), ("y", "v")])
def test_a_kept_live_rewrite_never_chains_with_a_mined_one(live):
    # Organic traffic mines x → y. The live table holds w → x (x would be both a target and a source)
    # or y → v (y would be both): the self-aware rule keeps it (no live evidence yet), and the mined
    # rewrite that would chain with it is dropped, so the table passes `rewrites_have_no_cycles`.
    deployed = pl.DataFrame(
        {"rewrite_id": [rewrite_id(*live)], "source_text": [live[0]], "rewrite_text": [live[1]]}
    )
    table, report = mine_rewrites(frame(two_state_rows(6, 6)), SYMBOLIC, deployed=deployed)
    assert table.select("source_text", "rewrite_text", "origin").rows() == [(*live, "deployed")]
    assert report["n_rejected_by_reason"]["chain_or_cycle"] == 1
    assert not set(table["source_text"]) & set(table["rewrite_text"])
    # Without the live table the same window mines x → y.
    table, _ = mine_rewrites(frame(two_state_rows(6, 6)), SYMBOLIC)
    assert table.select("source_text", "rewrite_text").rows() == [("x", "y")]


def test_the_privacy_floor_holds_unless_declared_unsafe():
    with pytest.raises(ValueError, match="under the privacy floor 5.*unsafe_min_users"):
        MarkovParams(min_users=1)
    params = MarkovParams(min_users=1, unsafe_min_users=True, min_meaning_score=0.0)
    table, report = mine_rewrites(frame(two_state_rows(1, 1)), params)
    assert table.select("source_text", "rewrite_text").rows() == [("x", "y")]
    assert report["params"]["unsafe_min_users"] is True and report["params"]["min_users"] == 1
