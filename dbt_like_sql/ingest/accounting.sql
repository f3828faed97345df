-- What the ingest_accounting gate checks for a day: the lines read and the lines of unread files as ingestion
-- recorded them (ingest.partition_stats), and the clean and quarantined rows the tables hold now. No row if
-- the day has no statistics.
SELECT
    s.lines_read,
    coalesce(s.lines_lost_estimate, 0) AS lines_lost_estimate,
    s.lost_files,  -- JSON [{file, reason, lines_estimate, detail}], NULL when none
    (SELECT count(*) FROM ingest.clean_turns WHERE day = $day) AS clean_now,
    (SELECT count(*) FROM ingest.quarantined_turns WHERE day = $day) AS quarantined_now
FROM ingest.partition_stats AS s
WHERE s.day = $day;
