-- Gold-annotated turns of $day for the online rewriter's evaluation: who said what, the gold failure point,
-- intended text, intent and slots (a canonical "name=value;..." key).
SELECT t.event_id, t.session_id, t.user_id, t.asr_text, g.gold_failure_point AS failure_point,
       g.gold_intended_text AS intended_text, g.gold_intent,
       array_to_string(list_sort(list_transform(coalesce(g.gold_slots, []),
           lambda s: lower(s.name) || '=' || lower(s.value))), ';') AS gold_slots
FROM ingest.turn_annotations AS g
JOIN ingest.clean_turns AS t ON t.event_id = g.event_id AND t.day = $day
WHERE g.day = $day AND g.gold_failure_point IS NOT NULL
ORDER BY t.event_id;
