"""The online rewriter on the hand-made world (conftest): the keynote's cases, privacy, abstention, bad input."""

from __future__ import annotations

import polars as pl

from selflearn_assets.lib.online.runtime import Rewriter

from .conftest import CONTACTS, KEY, uid


def _rewriter(folder, layers=("table", "global", "personal")) -> Rewriter:
    return Rewriter.load(folder.parent.parent, KEY, layers=layers, online=folder)


def test_personal_history_beats_the_global_default(online_world):
    folder, _, _ = online_world
    rewriter = _rewriter(folder)
    alice = rewriter.rewrite("alice", "What's the weather in Wilkerson?")
    assert alice.rewrite == "what's the weather in wilkerson california"
    assert alice.layer == "personal"
    assert alice.score >= rewriter.bundle.ranker.threshold
    # everyone else means Washington: the bare request works for them and stays as it is
    for user in ("g01", "g05", "stranger"):
        assert rewriter.rewrite(user, "what's the weather in wilkerson").rewrite is None


def test_personal_taste_is_not_rewritten_to_the_popular_title(online_world):
    folder, _, _ = online_world
    decision = _rewriter(folder).rewrite("bob", "play we don't talk anymore")
    assert decision.rewrite is None


def test_global_layer_fixes_a_common_mishearing_for_anyone(online_world):
    folder, _, _ = online_world
    for layers in (("global",), ("table", "global", "personal")):
        decision = _rewriter(folder, layers).rewrite("someone-new", "play maj and dragons")
        assert (decision.rewrite, decision.layer) == ("play imagine dragons", "global")


def test_personal_contacts_fixed_for_their_user_only(online_world):
    folder, _, _ = online_world
    rewriter = _rewriter(folder)
    fixed = 0
    for p, (name, heard) in enumerate(CONTACTS):
        mine = rewriter.rewrite(f"p{p}", f"call {heard}")
        fixed += mine.rewrite == f"call {name}" and mine.layer == "personal"
        other = rewriter.rewrite(f"p{(p + 1) % len(CONTACTS)}", f"call {heard}")
        assert f"call {name}" not in {c["text"] for c in other.candidates}
        assert other.rewrite != f"call {name}"
    assert fixed >= 8  # the ranker may abstain on a couple; it never serves a contact to another user


def test_personal_entries_never_reach_the_global_layer(online_world):
    _, turns, built = online_world
    users = turns.group_by("norm_text").agg(pl.col("user_id").n_unique().alias("n"))
    few = set(users.filter(pl.col("n") < 3)["norm_text"])
    assert few & set(built.layers.personal_entries["text"])  # they exist, personally
    assert not few & set(built.layers.global_entries["text"])
    assert set(built.layers.personal_entries.filter(pl.col("user_id") == uid("bob"))["text"]) == {
        "play we don't talk anymore",
        "play we don't talk about bruno",
    }


def test_without_the_personal_layer_nothing_personal_is_served(online_world):
    folder, _, _ = online_world
    rewriter = _rewriter(folder, ("table", "global"))
    alice = rewriter.rewrite("alice", "what's the weather in wilkerson")
    assert alice.rewrite is None
    assert all(c["layer"] == "global" for c in alice.candidates)


def test_bad_input_gets_a_decision_not_an_exception(online_world):
    folder, _, _ = online_world
    rewriter = _rewriter(folder)
    assert rewriter.rewrite("alice", "").reason == "empty request"
    assert rewriter.rewrite("alice", "alexa").reason == "empty request"
    assert "longer than" in rewriter.rewrite("alice", "x" * 10_000).reason
    assert rewriter.rewrite("alice", None).reason == "text is not a string"
    assert (
        rewriter.rewrite(None, "play maj and dragons").rewrite == "play imagine dragons"
    )  # no user: global only
    assert rewriter.rewrite("alice", "\udcff weather").rewrite is None  # lone surrogate, not UTF-8 encodable


def test_a_bundle_built_with_another_key_is_refused(online_world):
    import pytest

    from selflearn_assets.lib.online.bundle import BundleError

    folder, _, _ = online_world
    with pytest.raises(BundleError, match="pseudonymised with key"):
        Rewriter.load(folder.parent.parent, "another-key", online=folder)
