-- Replace the day's annotations and quarantined annotation lines (inside a transaction) from
-- staged_annotations.sql (`annotation_files`: file_idx, source_file, read_error).
DELETE FROM ingest.annotations WHERE day = $day;
DELETE FROM ingest.quarantined_annotations WHERE day = $day;

INSERT INTO ingest.annotations BY NAME
SELECT $day AS day, s.event_id, s.task, s.annotator, s.label::JSON AS label, s.annotator = 'gold' AS is_gold,
       f.source_file, s.line AS source_line
FROM staged_annotations AS s
JOIN annotation_files AS f USING (file_idx)
WHERE s.reason IS NULL;

INSERT INTO ingest.quarantined_annotations BY NAME
SELECT $day AS day, f.source_file, s.line AS source_line, s.raw, s.event_id, s.reason,
    CASE WHEN s.reason = 'unreadable_file' THEN f.read_error
         WHEN s.reason = 'line_too_long' THEN s.detail || ' (raw keeps the first 10000 characters)'
         ELSE s.detail END AS detail
FROM staged_annotations AS s
JOIN annotation_files AS f USING (file_idx)
WHERE s.reason IS NOT NULL;
