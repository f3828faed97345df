"""Utterance normalisation (the Markov solver's, so chain states match rewrite keys) and phonetic keys."""

from __future__ import annotations

import jellyfish
import polars as pl

from selflearn_assets.lib.markov.normalize import normalize_expr

__all__ = ["normalize_expr", "phonetic_keys"]


def phonetic_keys(texts: pl.Series) -> pl.DataFrame:
    """`norm_text` -> `phonetic`: the metaphone codes of its space-separated tokens, joined by spaces.

    One jellyfish call per distinct token of the input (the day's vocabulary), not per turn; a token with
    an empty code (digits, say) keeps its own spelling."""
    frame = pl.DataFrame({"norm_text": texts.cast(pl.String)}).unique(maintain_order=True)
    frame = frame.with_row_index("text_id")
    tokens = frame.select("text_id", token=pl.col("norm_text").str.split(" ")).explode("token")
    vocabulary = tokens.get_column("token").unique()
    codes = pl.Series([jellyfish.metaphone(t) or t for t in vocabulary.to_list()], dtype=pl.String)
    keys = (
        tokens.with_columns(code=pl.col("token").replace_strict(vocabulary, codes, return_dtype=pl.String))
        .group_by("text_id", maintain_order=True)
        .agg(phonetic=pl.col("code").str.join(" "))
    )
    return frame.join(keys, on="text_id", how="left").select("norm_text", pl.col("phonetic").fill_null(""))
