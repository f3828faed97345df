-- The blocking ingestion gates a readable day has passed (day_gates.sql).
SELECT check_name
FROM ingest.ingestion_gates
ORDER BY 1;
