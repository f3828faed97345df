-- The days of $days that may be read downstream, oldest first.
SELECT day
FROM ingest.readable_days
WHERE list_contains($days::DATE[], day)
ORDER BY day;
