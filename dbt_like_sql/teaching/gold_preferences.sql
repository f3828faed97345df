-- Adjudicated gold of the teaching tasks on the days $days: `preference` {key, value} on a turn that taught
-- one, `preference_use` (the key) on a turn that relied on one, and every audited turn's failure point.
SELECT a.day, a.event_id, a.task, a.label
FROM ingest.annotations AS a
WHERE a.is_gold AND a.task IN ('preference', 'preference_use', 'failure_point') AND list_contains($days::DATE[], a.day);
