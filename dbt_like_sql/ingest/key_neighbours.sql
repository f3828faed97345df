-- The key fingerprints of the nearest recorded days before and after $day (at most one row each).
(SELECT 'before' AS side, day, fingerprint FROM ingest.key_fingerprints WHERE day < $day ORDER BY day DESC LIMIT 1)
UNION ALL
(SELECT 'after', day, fingerprint FROM ingest.key_fingerprints WHERE day > $day ORDER BY day LIMIT 1);
