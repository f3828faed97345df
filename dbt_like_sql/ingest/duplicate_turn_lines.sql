-- The lines to re-read for the later copies of duplicate event ids (temp table duplicate_turns of
-- duplicate_turns.sql): per source file, its line numbers in order.
SELECT source_file, list(source_line ORDER BY source_line) AS source_lines
FROM duplicate_turns
GROUP BY source_file;
