-- Gold and single-annotator labels of the released tasks for the clean turns of $days, with the turn's
-- day and session (the audit holdout is a hash of the session, applied in Python).
SELECT t.day, a.event_id, t.session_id, a.task, a.annotator, a.is_gold, a.label::VARCHAR AS label
FROM ingest.annotations AS a
JOIN ingest.clean_turns AS t ON t.event_id = a.event_id
WHERE a.day IN (SELECT unnest($days::DATE[]))
  AND t.day IN (SELECT unnest($days::DATE[]))
  AND a.task IN ('goal_start', 'goal_success', 'intent', 'slots', 'failure_point')
ORDER BY a.event_id, a.task, a.annotator;
