-- Duplicate event ids of the day, once every file is in day_clean_turns (the day being built). The first copy
-- by (file name, line) stays; every later copy is listed here to be moved to quarantine: `duplicate_event_id`
-- when its content (every typed column) equals the first copy's, else `conflicting_duplicate_event_id`.
CREATE OR REPLACE TEMP TABLE duplicate_turns AS
WITH copies AS (
    SELECT source_file, source_line, event_id, user_id,
        row(session_id, user_id, device_id, ts, asr_text, device_type, locale, wake_score, asr_confidence,
            asr_nbest, nlu_domain, nlu_intent, nlu_slots, nlu_confidence, er_status, er_entity_id,
            response_text, response_status, response_duration_ms, barge_in, explicit_feedback,
            device_state, rewrite_applied, audio_uri, extra::VARCHAR) AS content
    FROM day_clean_turns
    WHERE day = $day
      AND event_id IN (SELECT event_id FROM day_clean_turns WHERE day = $day GROUP BY event_id HAVING count(*) > 1)
),
ranked AS (
    SELECT source_file, source_line, event_id, user_id,
        content IS NOT DISTINCT FROM first_value(content) OVER w AS same,
        first_value(source_file) OVER w AS first_file,
        first_value(source_line) OVER w AS first_line,
        row_number() OVER w AS copy
    FROM copies
    WINDOW w AS (PARTITION BY event_id ORDER BY source_file, source_line)
)
SELECT source_file, source_line, event_id, user_id,
    CASE WHEN same THEN 'duplicate_event_id' ELSE 'conflicting_duplicate_event_id' END AS reason,
    'event_id ' || event_id || ' already seen at ' || first_file || ':' || first_line
        || CASE WHEN same THEN ' with the same content' ELSE ' with different content' END AS detail
FROM ranked
WHERE copy > 1;
