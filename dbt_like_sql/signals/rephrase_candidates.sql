-- The rows of signals.rephrase_candidates for one day (published as the day's lake partition by
-- lib/signals/store.py): the pairs of _signals_rephrase_pairs with the learned detector's score where one ran
-- (registered relation _signals_model_scores). score = model_weight * model_score + (1 - model_weight) *
-- heuristic_score where the model scored the pair, else heuristic_score.
SELECT
    p.*,
    m.model_score,
    CASE WHEN m.model_score IS NULL THEN p.heuristic_score
         ELSE $model_weight * m.model_score + (1.0 - $model_weight) * p.heuristic_score END AS score
FROM _signals_rephrase_pairs AS p
LEFT JOIN _signals_model_scores AS m USING (first_event_id, second_event_id)
