-- Make room for a re-ingested day's accounting row (runs inside the ingestion transaction; the day's turns
-- and quarantined lines are replaced as lake partitions, lib/ingest/store.py).
DELETE FROM ingest.partition_stats WHERE day = $day;
