-- Move the later copies of duplicate event ids (duplicate_turns.sql) from day_clean_turns to
-- day_quarantined_turns (the day being built, day_tables.sql), with their raw text re-read from the files
-- (`duplicate_lines`).
INSERT INTO day_quarantined_turns BY NAME
SELECT $day AS day, d.source_file, d.source_line, quarantine_raw(l.text, d.reason, $pseudonym_key) AS raw,
       d.event_id, d.reason, d.detail
FROM duplicate_turns AS d
JOIN duplicate_lines AS l USING (source_file, source_line);

DELETE FROM day_clean_turns AS c
USING duplicate_turns AS d
WHERE c.day = $day AND c.source_file = d.source_file AND c.source_line = d.source_line;
