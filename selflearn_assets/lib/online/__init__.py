"""Online rewriting: for any incoming request, retrieve candidate rewrites from a global index (what works
for everyone) and a personal index (what works for this user), rank them, and rewrite only when confident.

The exported Markov table (`lib/rewrites`) stays the first, exact layer; this package is what comes after it
for every request the table does not cover. Plain Python, no Dagster:

- `static_encoder`: the request encoder of the runtime, a static-embedding distillation (the model2vec method) of the
  platform's transformer encoder, with the logs' own words in its vocabulary: ~0.2 ms a request on one core;
- `vector_index`: the approximate-nearest-neighbour index of the global layer (usearch HNSW), with its
  recall against exact search;
- `entries`: the global and personal entries, built from the logs (gold-free: the calibrated defect model);
- `candidates`: retrieval from both layers (embedding and phonetic channels);
- `features` + `ranker`: what is scored for each (request, candidate), and the calibrated model that
  abstains unless P(the rewrite is right) clears its threshold;
- `bundle`: the export folder (index, entries, encoder, ranker, manifest with sha256), written atomically;
- `self_aware`: the keep/drop rule for the online rewrites the runtime applied (dropped pairs are blocked);
- `preferences`: what customers taught (preferences and concepts, with history), the runtime log, and how
  taught items rewrite requests;
- `runtime`: `Rewriter.load(exports).rewrite(user_id, text)` and `teach(...)`, used by the CLI and the HTTP
  service (`serve`).
"""
