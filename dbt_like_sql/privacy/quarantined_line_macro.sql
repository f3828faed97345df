-- Whether a quarantined line is a forgotten customer's (the one rule: delete_quarantined_lines.sql uses it on
-- a warehouse table, their_quarantined_lines.sql and lib/privacy/lake.py on the lake's partitions): its raw
-- text holds one of their pseudonyms (ingestion pseudonymised every user_id it recognised) or their raw id as
-- a quoted value matching `pattern` (a line ingestion could not read as JSON keeps it as written).
CREATE OR REPLACE TEMP MACRO their_quarantined_line(raw, pseudonyms, pattern) AS
    raw IS NOT NULL AND (
        len(list_filter(pseudonyms, lambda p: contains(raw, p))) > 0
        OR coalesce(regexp_matches(raw, pattern), false)
    );
