-- The day's quarantined annotation lines per reason, the most frequent first.
SELECT reason, count(*) AS lines
FROM ingest.quarantined_annotations
WHERE day = $day
GROUP BY reason
ORDER BY 2 DESC, 1;
