-- The rejected lines of a batch of raw files (`turn_lines` holds just those, `turn_files` the batch's files)
-- → day_quarantined_turns (the day of ingest.quarantined_turns being built): where from, the raw text
-- (quarantine_raw in macros.sql), why.
INSERT INTO day_quarantined_turns BY NAME
SELECT
    $day AS day, f.source_file, v.line AS source_line, v.raw, v.event_id,
    -- a file that was not read: unreadable_file, or skipped_file when it was not even tried (lines.py)
    CASE WHEN v.reason = 'unreadable_file' THEN coalesce(f.file_reason, v.reason) ELSE v.reason END AS reason,
    CASE WHEN v.reason = 'unreadable_file' THEN f.read_error
         WHEN v.reason = 'line_too_long' THEN v.detail || ' (raw keeps the first 10000 characters)'
         ELSE v.detail END AS detail
FROM validated_turns($day, $pseudonym_key, $max_line_bytes) AS v
JOIN turn_files AS f USING (file_idx)
WHERE NOT v.is_clean;
