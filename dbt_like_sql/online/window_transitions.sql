-- The markov_transitions rows of the days $days (a DATE[]): the outcomes the self-aware rule weighs.
SELECT day, src, dst, rewritten, rewrite_id, n_transitions, n_sessions, users
FROM signals.markov_transitions
WHERE list_contains($days::DATE[], day);
