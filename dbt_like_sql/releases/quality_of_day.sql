-- The per-label quality of the release of $day (the callers keep the columns of lib/releases/store.py).
SELECT * EXCLUDE (day)
FROM releases.release_quality
WHERE day = $day
ORDER BY label;
