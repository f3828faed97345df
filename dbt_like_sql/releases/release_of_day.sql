-- The released rows of $day in session and turn order (the callers keep the columns of the release frame).
SELECT r.* EXCLUDE (day)
FROM releases.label_release AS r
LEFT JOIN ingest.clean_turns AS t ON t.day = r.day AND t.event_id = r.event_id
WHERE r.day = $day
ORDER BY r.session_id, t.ts, r.event_id;
