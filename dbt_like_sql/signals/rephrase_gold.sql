-- Gold rephrase_of annotations of the day's turns, each with the day's candidate pairs ending at that turn
-- (no candidate: NULL first_event_id). rephrase_of NULL = the turn rephrases no earlier turn.
WITH gold AS (  -- ingest.turn_annotations: the one definition of gold
    SELECT event_id AS second_event_id, gold_rephrase_of AS rephrase_of
    FROM ingest.turn_annotations
    WHERE has_gold_rephrase_of AND day = $day
)
SELECT g.second_event_id, g.rephrase_of, c.first_event_id, c.heuristic_score, c.model_score, c.score
FROM gold AS g
LEFT JOIN signals.rephrase_candidates AS c ON c.day = $day AND c.second_event_id = g.second_event_id
