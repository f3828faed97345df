-- After rows of a forgotten customer left ingest.clean_turns / quarantined_turns on the days $days (DATE[]):
-- their counts in ingest.partition_stats follow, so that lines_read = clean + quarantined still holds for
-- what the tables keep (the ingest_accounting gate). The removed lines leave lines_read too; ingested_at is
-- kept (the day's gates stay valid).
UPDATE ingest.partition_stats AS s
SET lines_read = s.lines_read - (s.clean_rows + s.quarantined_rows - n.clean_now - n.quarantined_now),
    clean_rows = n.clean_now,
    quarantined_rows = n.quarantined_now
FROM (
    SELECT d.day,
           (SELECT count(*) FROM ingest.clean_turns AS c WHERE c.day = d.day) AS clean_now,
           (SELECT count(*) FROM ingest.quarantined_turns AS q WHERE q.day = d.day) AS quarantined_now
    FROM (SELECT unnest($days::DATE[]) AS day) AS d
) AS n
WHERE s.day = n.day;
