-- Gold-annotated turns of $day with what the offline rewrite evaluation needs: the gold failure point,
-- intended text, intent and slots (as a canonical "name=value;..." key).
WITH gold AS (
    SELECT event_id,
           max(CASE WHEN task = 'failure_point' THEN json_extract_string(label, '$') END) AS failure_point,
           max(CASE WHEN task = 'intended_text' THEN json_extract_string(label, '$') END) AS intended_text,
           max(CASE WHEN task = 'intent' THEN json_extract_string(label, '$') END) AS gold_intent,
           max(CASE WHEN task = 'slots' THEN label::VARCHAR END) AS slots
    FROM ingest.annotations
    WHERE day = $day AND is_gold
    GROUP BY event_id
)
SELECT t.event_id, t.asr_text, g.failure_point, g.intended_text, g.gold_intent,
       array_to_string(list_sort(list_transform(
           coalesce(json_extract(g.slots::JSON, '$[*]'), []::JSON[]),
           lambda s: lower(s ->> 'name') || '=' || lower(s ->> 'value'))), ';') AS gold_slots
FROM gold g
JOIN ingest.clean_turns t ON t.event_id = g.event_id AND t.day = $day
WHERE g.failure_point IS NOT NULL;
