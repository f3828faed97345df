-- Gold-annotated turns of $day (ingest.turn_annotations) with what the offline rewrite evaluation needs: the
-- gold failure point, intended text, intent and slots (as a canonical "name=value;..." key).
SELECT t.event_id, t.asr_text, g.gold_failure_point AS failure_point, g.gold_intended_text AS intended_text,
       g.gold_intent,
       array_to_string(list_sort(list_transform(coalesce(g.gold_slots, []),
           lambda s: lower(s.name) || '=' || lower(s.value))), ';') AS gold_slots
FROM ingest.turn_annotations AS g
JOIN ingest.clean_turns AS t ON t.event_id = g.event_id AND t.day = $day
WHERE g.day = $day AND g.gold_failure_point IS NOT NULL;
