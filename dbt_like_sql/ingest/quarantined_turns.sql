-- The rejected lines of one raw file → ingest.quarantined_turns: where from, the raw text (quarantine_raw
-- in macros.sql), why. Runs on just the lines that clean_turns.sql did not take.
INSERT INTO ingest.quarantined_turns BY NAME
SELECT
    $day AS day, $source_file AS source_file, line AS source_line, raw, event_id, reason,
    CASE WHEN reason = 'unreadable_file' THEN $read_error
         WHEN reason = 'line_too_long' THEN detail || ' (raw keeps the first 10000 characters)'
         ELSE detail END AS detail
FROM validated_turns($day, $pseudonym_key, $max_line_bytes)
WHERE reason IS NOT NULL;
