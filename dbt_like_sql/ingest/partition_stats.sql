-- Accounting of one ingested day: every line read is either clean or quarantined; the lines that unread files
-- probably held beyond their one quarantined row each are an estimate, kept apart (`lost_files` says where).
-- The counts are those of the day being built (day_clean_turns, day_quarantined_turns), published next.
INSERT INTO ingest.partition_stats
    (day, files, lines_read, clean_rows, quarantined_rows, ingested_at, lines_lost_estimate, lost_files)
SELECT
    $day, $files, $lines_read,
    (SELECT count(*) FROM day_clean_turns WHERE day = $day),
    (SELECT count(*) FROM day_quarantined_turns WHERE day = $day),
    timezone('UTC', now()),
    $lines_lost_estimate,
    $lost_files::JSON;
