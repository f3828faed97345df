-- The customer's quarantined lines in the lake (ingest.quarantined_turns is a view): their day and event id
-- (NULL where the line had none); lib/privacy/lake.py publishes those days again without them. Theirs: the
-- rule of quarantined_line_macro.sql. Inputs as delete_quarantined_lines.sql's.
SELECT q.day, q.event_id
FROM ingest.quarantined_turns AS q
WHERE coalesce(their_quarantined_line(q.raw, getvariable('forget_pseudonyms')::VARCHAR[],
                                      getvariable('forget_raw_id_pattern')::VARCHAR), false);
