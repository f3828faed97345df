-- Delete the customer's quarantined lines from a warehouse that still holds ingest.quarantined_turns as a
-- table (not yet moved to the lake), returning their day and event id (NULL where the line had none). Theirs:
-- the rule of quarantined_line_macro.sql. Inputs: getvariable('forget_pseudonyms') (VARCHAR[]) and
-- getvariable('forget_raw_id_pattern') (VARCHAR, a regular expression); unset: no line. Their other
-- quarantined lines (a duplicate of one of their event ids) go with their event ids.
DELETE FROM ingest.quarantined_turns AS q
WHERE coalesce(their_quarantined_line(q.raw, getvariable('forget_pseudonyms')::VARCHAR[],
                                      getvariable('forget_raw_id_pattern')::VARCHAR), false)
RETURNING q.day, q.event_id;
