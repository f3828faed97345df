-- The valid lines among those of a batch that the first pass (clean_turns.sql) did not take in: `turn_lines`
-- holds just those, validated in full (validated_turns.sql) → day_clean_turns. Returns the number of rows
-- inserted; when that is short of the lines, the caller looks up which went in and quarantines the others
-- (quarantined_turns.sql).
INSERT INTO day_clean_turns BY NAME
SELECT
    $day AS day, v.event_id, v.session_id, v.user_id, v.device_id, v.ts, v.asr_text, v.device_type, v.locale,
    v.wake_score, v.asr_confidence, v.asr_nbest, v.nlu_domain, v.nlu_intent, v.nlu_slots, v.nlu_confidence,
    v.er_status, v.er_entity_id, v.response_text, v.response_status, v.response_duration_ms, v.barge_in,
    v.explicit_feedback, v.device_state, v.rewrite_applied, v.audio_uri, v.extra,
    f.source_file, v.line AS source_line
FROM validated_turns($day, $pseudonym_key, $max_line_bytes) AS v
JOIN turn_files AS f USING (file_idx)
WHERE v.is_clean;
