-- Every clean turn of $day with its turn_labels and failure_points row (NULLs where one is missing).
SELECT
    t.event_id, t.session_id,
    l.goal_id, l.goal_start, l.goal_start_confidence, l.goal_success, l.goal_success_confidence,
    l.intent, l.intent_confidence, l.slots, l.slots_confidence,
    f.failure_point, f.failure_point_confidence,
    l.model_version AS label_model_version,
    f.model_version AS failure_point_model_version
FROM ingest.clean_turns AS t
LEFT JOIN labels.turn_labels AS l ON l.day = t.day AND l.event_id = t.event_id
LEFT JOIN labels.failure_points AS f ON f.day = t.day AND f.event_id = t.event_id
WHERE t.day = $day
ORDER BY t.session_id, t.ts, t.event_id;
