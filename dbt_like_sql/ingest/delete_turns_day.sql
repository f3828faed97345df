-- Make room for a re-ingested day (runs inside the ingestion transaction).
DELETE FROM ingest.clean_turns WHERE day = $day;
DELETE FROM ingest.quarantined_turns WHERE day = $day;
DELETE FROM ingest.partition_stats WHERE day = $day;
