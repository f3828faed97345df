-- Gold and single-annotator labels of the released tasks (ingest.turn_annotations) for the clean turns of
-- $days that have a gold label of one of them, with the turn's session (the audit holdout is a hash of the
-- session, applied in Python).
SELECT a.day, a.event_id, t.session_id,
       a.gold_goal_start, a.gold_goal_success, a.gold_intent, a.gold_slots, a.gold_failure_point,
       a.ann_goal_start, a.ann_goal_success, a.ann_intent, a.ann_slots, a.ann_failure_point
FROM ingest.turn_annotations AS a
JOIN ingest.clean_turns AS t ON t.day = a.day AND t.event_id = a.event_id
WHERE list_contains($days::DATE[], a.day)
  AND (a.gold_goal_start IS NOT NULL OR a.gold_goal_success IS NOT NULL OR a.gold_intent IS NOT NULL
       OR a.gold_slots IS NOT NULL OR a.gold_failure_point IS NOT NULL)
ORDER BY a.day, t.session_id, a.event_id;
