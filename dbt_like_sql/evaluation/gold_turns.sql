-- Gold-annotated turns of $day with what the offline rewrite evaluation needs.
WITH gold AS (
    SELECT event_id,
           max(CASE WHEN task = 'failure_point' THEN json_extract_string(label, '$') END) AS failure_point,
           max(CASE WHEN task = 'intended_text' THEN json_extract_string(label, '$') END) AS intended_text,
           max(CASE WHEN task = 'slots' THEN label::VARCHAR END) AS slots
    FROM ingest.annotations
    WHERE day = $day AND is_gold
    GROUP BY event_id
)
SELECT t.event_id, t.asr_text, g.failure_point, g.intended_text,
       coalesce(json_extract_string(g.slots::JSON, '$[*].value'), []::VARCHAR[]) AS slot_values
FROM gold g
JOIN ingest.clean_turns t ON t.event_id = g.event_id AND t.day = $day
WHERE g.failure_point IS NOT NULL;
