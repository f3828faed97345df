-- The pseudonym key fingerprints the warehouse knows: recorded by an ingested day (with its first day) or
-- declared by `selflearn rotate-key` (either side of a rotation; first_day NULL when no day has it yet).
SELECT fingerprint, min(day) AS first_day
FROM (
    SELECT fingerprint, day FROM ingest.key_fingerprints
    UNION ALL SELECT old_fingerprint, NULL::DATE FROM ingest.key_rotations
    UNION ALL SELECT new_fingerprint, NULL::DATE FROM ingest.key_rotations
)
GROUP BY fingerprint
ORDER BY first_day NULLS LAST, fingerprint;
