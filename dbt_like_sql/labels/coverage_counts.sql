-- How well labels.{{ table }} (turn_labels or failure_points) covers the day's clean turns: clean turns
-- without a row, rows without their clean turn, and duplicate rows (the blocking "covers every turn" checks).
SELECT
    (SELECT count(*) FROM ingest.clean_turns AS t
     WHERE t.day = $day
       AND NOT EXISTS (SELECT 1 FROM labels.{{ table }} AS l WHERE l.day = $day AND l.event_id = t.event_id))
        AS missing,
    (SELECT count(*) FROM labels.{{ table }} AS l
     WHERE l.day = $day
       AND NOT EXISTS (SELECT 1 FROM ingest.clean_turns AS t WHERE t.day = $day AND t.event_id = l.event_id))
        AS extra,
    (SELECT count(*) - count(DISTINCT event_id) FROM labels.{{ table }} WHERE day = $day) AS duplicated;
