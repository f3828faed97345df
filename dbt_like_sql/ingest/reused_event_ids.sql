-- The event ids of one day's clean turns that clean_turns also holds on other days, with those days. Event ids
-- are unique per contract, but days are ingested independently (a day cannot refuse a turn because another
-- day, perhaps re-ingested later, has it), so this feeds a warning, not a gate.
SELECT c.event_id, list(DISTINCT o.day ORDER BY o.day) AS other_days
FROM ingest.clean_turns AS c
JOIN ingest.clean_turns AS o ON o.event_id = c.event_id AND o.day <> c.day
WHERE c.day = $day
GROUP BY c.event_id
ORDER BY c.event_id;
