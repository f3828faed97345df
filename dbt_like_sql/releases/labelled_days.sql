-- The days of [$start, $day] that have both turn_labels and failure_points, newest first.
SELECT day FROM (SELECT DISTINCT day FROM labels.turn_labels WHERE day BETWEEN $start AND $day)
INTERSECT
SELECT day FROM (SELECT DISTINCT day FROM labels.failure_points WHERE day BETWEEN $start AND $day)
ORDER BY day DESC;
