-- Clean rows of the day and of each ingested day of the 7 days before it, oldest first (the volume check).
SELECT day, clean_rows
FROM ingest.partition_stats
WHERE day <= $day AND day >= $day - INTERVAL 7 DAY
ORDER BY day;
