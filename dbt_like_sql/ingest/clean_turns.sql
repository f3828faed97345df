-- The valid lines of one raw file → ingest.clean_turns (inside the day's ingestion transaction).
-- Returns the inserted line numbers, so the caller knows which lines to quarantine.
INSERT INTO ingest.clean_turns BY NAME
SELECT
    $day AS day, event_id, session_id, user_id, device_id, ts, asr_text, device_type, locale, wake_score,
    asr_confidence, asr_nbest, nlu_domain, nlu_intent, nlu_slots, nlu_confidence, er_status, er_entity_id,
    response_text, response_status, response_duration_ms, barge_in, explicit_feedback, device_state,
    rewrite_applied, audio_uri, extra, $source_file AS source_file, line AS source_line
FROM validated_turns($day, $pseudonym_key, $max_line_bytes)
WHERE reason IS NULL
RETURNING source_line;
