-- The day's quarantined turn lines per reason, the most frequent first.
SELECT reason, count(*) AS lines
FROM ingest.quarantined_turns
WHERE day = $day
GROUP BY reason
ORDER BY 2 DESC, 1;
