-- Delete the customer's quarantined lines, returning their day and event id (NULL where the line had none).
-- A line is theirs when its raw text holds one of their pseudonyms (ingestion pseudonymised every user_id
-- it recognised) or their raw id as a quoted value (a line ingestion could not read as JSON keeps it as
-- written). Inputs: getvariable('forget_pseudonyms') (VARCHAR[]) and getvariable('forget_raw_id_pattern')
-- (VARCHAR, a regular expression); unset: no line. Their other quarantined lines (a duplicate of one of
-- their event ids) go with their event ids.
DELETE FROM ingest.quarantined_turns AS q
WHERE q.raw IS NOT NULL AND (
    EXISTS (SELECT 1 FROM (SELECT unnest(getvariable('forget_pseudonyms')::VARCHAR[]) AS pseudonym) AS p
            WHERE contains(q.raw, p.pseudonym))
    OR coalesce(regexp_matches(q.raw, getvariable('forget_raw_id_pattern')::VARCHAR), false)
)
RETURNING q.day, q.event_id;
