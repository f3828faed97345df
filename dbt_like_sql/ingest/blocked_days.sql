-- Ingested days in [$start, $end] that are not readable, oldest first; a NULL bound is open.
SELECT day
FROM ingest.day_status
WHERE NOT readable
  AND (CAST($start AS DATE) IS NULL OR day >= $start)
  AND (CAST($end AS DATE) IS NULL OR day <= $end)
ORDER BY day;
