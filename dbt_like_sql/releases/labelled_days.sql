-- The days of [$start, $day] that have both turn_labels and failure_points, newest first, without the days
-- blocked by an ingestion gate (the `blocked_days` variable of lib/ingest/gates.py; unset: none).
SELECT day FROM (SELECT DISTINCT day FROM labels.turn_labels WHERE day BETWEEN $start AND $day)
INTERSECT
SELECT day FROM (SELECT DISTINCT day FROM labels.failure_points WHERE day BETWEEN $start AND $day)
EXCEPT
SELECT unnest(coalesce(getvariable('blocked_days'), []::DATE[]))  -- blocked days left out
ORDER BY day DESC;
