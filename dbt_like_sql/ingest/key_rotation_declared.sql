-- How many times the rotation $old_fingerprint → $new_fingerprint was declared (0: it was not).
SELECT count(*) AS declarations
FROM ingest.key_rotations
WHERE old_fingerprint = $old_fingerprint AND new_fingerprint = $new_fingerprint;
