-- Calibration set of the defect model: the signals of every gold-annotated turn of the window
-- [window_start, day], with its label. defective = gold failure_point <> 'correct'; where a turn has no gold
-- failure_point, NOT gold goal_success (a weaker proxy). Day `day` is read from _signals_defect_features
-- (not yet written), earlier days from signals.defect_signals. Days blocked by an ingestion gate are left out
-- (the `blocked_days` variable of lib/ingest/gates.py; unset: none).
WITH gold AS (  -- ingest.turn_annotations: the one definition of gold
    SELECT day, event_id, gold_failure_point AS failure_point, gold_goal_success AS goal_success
    FROM ingest.turn_annotations
    WHERE day BETWEEN $window_start AND $day
      AND NOT list_contains(coalesce(getvariable('blocked_days'), []::DATE[]), day)  -- blocked days left out
),
features AS (
    SELECT * FROM _signals_defect_features
    UNION ALL BY NAME
    SELECT * EXCLUDE (defect_prob, defect_model_day)
    FROM signals.defect_signals
    WHERE day >= $window_start AND day < $day AND NOT list_contains(coalesce(getvariable('blocked_days'), []::DATE[]), day)
)
SELECT
    f.*,
    CASE WHEN g.failure_point IS NOT NULL THEN g.failure_point <> 'correct' ELSE NOT g.goal_success END
        AS defective
FROM features AS f
JOIN gold AS g ON g.day = f.day AND g.event_id = f.event_id
WHERE g.failure_point IS NOT NULL OR g.goal_success IS NOT NULL
ORDER BY f.day, f.event_id
