-- The key fingerprint of every ingested day, in day order.
SELECT day, fingerprint
FROM ingest.key_fingerprints
ORDER BY day;
