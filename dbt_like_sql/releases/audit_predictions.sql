-- The model labels of the turns of $days that have a gold annotation (ingest.turn_annotations).
SELECT
    l.day, l.event_id,
    l.goal_start, l.goal_start_confidence, l.goal_success, l.goal_success_confidence,
    l.intent, l.intent_confidence, l.slots, l.slots_confidence,
    f.failure_point, f.failure_point_confidence
FROM labels.turn_labels AS l
JOIN labels.failure_points AS f ON f.day = l.day AND f.event_id = l.event_id
WHERE l.day IN (SELECT unnest($days::DATE[]))
  AND l.event_id IN (
      SELECT event_id FROM ingest.turn_annotations
      WHERE has_gold AND list_contains($days::DATE[], day));
