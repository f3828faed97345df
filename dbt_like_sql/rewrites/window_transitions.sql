-- The per-day transition rows of the window [$window_start, $day], without the days blocked by an ingestion
-- gate (the `blocked_days` variable of lib/ingest/gates.py; unset: none).
SELECT day, src, dst, rewritten, rewrite_id, rewrite_layer, n_transitions, n_sessions, users
FROM signals.markov_transitions
WHERE day BETWEEN $window_start AND $day
  AND NOT list_contains(coalesce(getvariable('blocked_days'), []::DATE[]), day);
