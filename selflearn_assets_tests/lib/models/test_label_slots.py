"""Slot candidates of the label model on hand-built turns: sources, features, targets and the final choice."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from selflearn_assets.lib.models.label_slots import (
    FEATURES,
    SlotCandidates,
    SlotLexicon,
    candidate_targets,
    choose_slots,
    slot_candidates,
)

LEXICON = SlotLexicon(
    {
        "artist": ["imagine dragons", "nina greer"],
        "book": ["ezra lacroix and the door of ember"],
        "song": ["silver winter"],
    }
)


@pytest.fixture
def turns() -> pl.DataFrame:
    """Session s: a misheard request and its rephrase; session t: a partial book title."""
    return pl.DataFrame(
        {
            "session_id": ["s", "s", "t"],
            "utterance": ["play maj and dragons", "play imagine dragons", "read ezra lacroix"],
            "nlu_slots": [
                [{"name": "song", "value": "maj and dragons"}],
                [{"name": "artist", "value": "Imagine  Dragons"}],
                [{"name": "book", "value": "ezra lacroix"}],
            ],
            "nlu_conf": [0.4, 0.9, None],
            "asr_conf": [0.5, 0.95, 0.8],
        }
    )


def _by_row(c: SlotCandidates) -> dict[int, dict[tuple[str, str], dict[str, float]]]:
    out: dict[int, dict] = {}
    for row, name, value, f in zip(c.row, c.name, c.value, c.features, strict=True):
        out.setdefault(int(row), {})[(name, value)] = dict(zip(FEATURES, f.tolist(), strict=True))
    return out


def test_turn_only_candidates(turns):
    c = _by_row(slot_candidates(turns, LEXICON, contextual=False))
    assert set(c[0]) == {("song", "maj and dragons")}  # misheard, and nothing in the lexicon is close
    own = c[0][("song", "maj and dragons")]
    assert own["from_own"] == 1 and own["in_lexicon"] == 0 and own["in_text"] == 1 and own["distance"] == 0
    assert own["source_nlu_conf"] == pytest.approx(0.4) and own["source_match"] == 1
    # the NLU value is normalised; the lexicon finds the same value in the words: one candidate, two sources
    assert set(c[1]) == {("artist", "imagine dragons")}
    both = c[1][("artist", "imagine dragons")]
    assert both["from_own"] == 1 and both["from_in_utterance"] == 1 and both["in_lexicon"] == 1
    # a partial title resolves to the full one (WRatio 90), and the missing NLU confidence counts as 0.5
    assert set(c[2]) == {("book", "ezra lacroix"), ("book", "ezra lacroix and the door of ember")}
    full = c[2][("book", "ezra lacroix and the door of ember")]
    assert full["from_resolved"] == 1 and full["from_own"] == 0 and full["source_match"] == pytest.approx(0.9)
    assert (
        full["in_text"] == 0 and 0.5 < full["text_match"] < c[2][("book", "ezra lacroix")]["text_match"] == 1
    )
    assert full["source_nlu_conf"] == 0.5
    assert full["name_in_nlu"] == 1 and full["n_words"] == pytest.approx(np.log1p(7) / 2)


def test_contextual_candidates_add_neighbours_within_the_session(turns):
    c = _by_row(slot_candidates(turns, LEXICON, contextual=True))
    # the rephrase's slot becomes a candidate of the misheard turn, one turn away (distance 1 / window 2)
    assert set(c[0]) == {("song", "maj and dragons"), ("artist", "imagine dragons")}
    nxt = c[0][("artist", "imagine dragons")]
    assert nxt["from_next"] == 1 and nxt["from_own"] == 0 and nxt["distance"] == 0.5
    assert nxt["in_text"] == 0 and nxt["name_in_nlu"] == 0 and nxt["source_nlu_conf"] == pytest.approx(0.9)
    assert c[1][("song", "maj and dragons")]["from_previous"] == 1
    assert ("artist", "imagine dragons") not in c[2]  # never across sessions


def test_targets_and_choice():
    c = SlotCandidates(
        row=np.array([0, 0, 0, 1, 1, 1, 1, 2]),
        name=["artist", "artist", "song", "place", "place", "place", "place", "city"],
        value=["nina greer", "greer", "silver winter", "canada", "georgia", "usa", "us", "paris"],
        features=np.zeros((8, len(FEATURES)), np.float32),
    )
    target, known = candidate_targets(c, [[{"name": "artist", "value": "Nina Greer"}], [], None])
    assert target.tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert known.tolist() == [True, True, True, True, True, True, True, False]
    p = np.array([0.7, 0.9, 0.4, 0.8, 0.6, 0.52, 0.75, 0.55])
    slots, confidence = choose_slots(c, p, n_rows=3)
    # kept at >= 0.5, best first; "nina greer" is a variant of "greer" (a shared word), "usa" of "us" (spelt
    # alike): only the better of each goes; "canada", "georgia" and "us" are three places of one turn
    place = [{"name": "place", "value": v} for v in ("canada", "georgia", "us")]
    assert slots == [[{"name": "artist", "value": "greer"}], place, [{"name": "city", "value": "paris"}]]
    # confidence: the least sure decision of the turn
    assert confidence == pytest.approx([0.6, 0.52, 0.55])
