-- The per-day transition rows of the window [$window_start, $day].
SELECT day, src, dst, rewritten, n_transitions, n_sessions, users
FROM signals.markov_transitions
WHERE day BETWEEN $window_start AND $day;
