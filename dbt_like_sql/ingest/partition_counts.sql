-- The day's recorded accounting: lines read, clean and quarantined (ingest.partition_stats; no row if the day
-- was never ingested).
SELECT lines_read, clean_rows, quarantined_rows
FROM ingest.partition_stats
WHERE day = $day;
