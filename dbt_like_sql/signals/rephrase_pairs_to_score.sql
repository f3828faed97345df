-- The day's candidate pairs (temp table _signals_rephrase_pairs of rephrase_pairs.sql) as the learned
-- rephrase detector scores them: every feature but the heuristic score, in a stable order.
SELECT * EXCLUDE (heuristic_score)
FROM _signals_rephrase_pairs
ORDER BY first_event_id, second_event_id;
