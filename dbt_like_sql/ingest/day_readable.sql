-- Whether an ingested day may be read downstream, and why not (no row: the day was not ingested).
SELECT readable, reason
FROM ingest.day_status
WHERE day = $day;
