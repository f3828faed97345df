-- signals.rephrase_candidates for one day: the pairs of _signals_rephrase_pairs with the learned detector's
-- score where one ran (registered relation _signals_model_scores), score = model_score else heuristic_score.
INSERT INTO signals.rephrase_candidates BY NAME
SELECT p.*, m.model_score, coalesce(m.model_score, p.heuristic_score) AS score
FROM _signals_rephrase_pairs AS p
LEFT JOIN _signals_model_scores AS m USING (first_event_id, second_event_id)
