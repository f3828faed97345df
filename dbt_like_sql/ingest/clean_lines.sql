-- The lines of a batch of raw files (`turn_files`) that day_clean_turns (the day being built) took in:
-- (file_idx, line), so the caller can quarantine the rest without validating the whole batch twice.
SELECT f.file_idx, c.source_line AS line
FROM day_clean_turns AS c
JOIN turn_files AS f USING (source_file)
WHERE c.day = $day;
