-- The valid lines of a batch of raw files (`turn_lines`, `turn_files`) → day_clean_turns (the day of
-- ingest.clean_turns being built, day_tables.sql), inside the day's ingestion transaction: the first, cheaper
-- pass (fast_validated_turns.sql) over every line. Returns the number of rows inserted; only when that is
-- short of the batch's lines does the caller look up which lines went in (clean_lines.sql) and validate the
-- others in full (clean_turns_rechecked.sql). No RETURNING: DuckDB runs an INSERT ... RETURNING on a single
-- thread, parsing included. The filter is on `is_clean`, which DuckDB cannot push down into the parsing (see
-- validated_turns.sql).
INSERT INTO day_clean_turns BY NAME
SELECT
    $day AS day, v.event_id, v.session_id, v.user_id, v.device_id, v.ts, v.asr_text, v.device_type, v.locale,
    v.wake_score, v.asr_confidence, v.asr_nbest, v.nlu_domain, v.nlu_intent, v.nlu_slots, v.nlu_confidence,
    v.er_status, v.er_entity_id, v.response_text, v.response_status, v.response_duration_ms, v.barge_in,
    v.explicit_feedback, v.device_state, v.rewrite_applied, v.audio_uri, v.extra,
    f.source_file, v.line AS source_line
FROM fast_validated_turns($day, $pseudonym_key, $max_line_bytes) AS v
JOIN turn_files AS f USING (file_idx)
WHERE v.is_clean;
