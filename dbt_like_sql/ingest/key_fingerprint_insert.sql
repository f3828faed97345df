-- The fingerprint of the pseudonym key a day was ingested with (runs inside the day's ingestion transaction).
INSERT OR REPLACE INTO ingest.key_fingerprints (day, fingerprint, recorded_at)
VALUES ($day, $fingerprint, timezone('UTC', now()));
