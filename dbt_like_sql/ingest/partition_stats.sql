-- Accounting of one ingested day: every line read is either clean or quarantined.
INSERT INTO ingest.partition_stats (day, files, lines_read, clean_rows, quarantined_rows, ingested_at)
SELECT
    $day, $files, $lines_read,
    (SELECT count(*) FROM ingest.clean_turns WHERE day = $day),
    (SELECT count(*) FROM ingest.quarantined_turns WHERE day = $day),
    timezone('UTC', now());
