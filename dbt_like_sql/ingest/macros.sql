-- Temp macros shared by the ingest SQL (turns and annotations); created on the connection before use.

-- The customer-id pseudonym: a keyed hash, 16 hex characters.
CREATE OR REPLACE TEMP MACRO pseudonym(key, raw_id) AS left(sha256(key || ':' || raw_id), 16);

-- The raw text kept for a quarantined line: without its line terminator, the first 10,000 characters of
-- a line over the length limit, and the value of every "user_id" key replaced by its pseudonym (or by
-- "redacted" when the line could not be typed), so no raw customer id is stored.
CREATE OR REPLACE TEMP MACRO quarantine_raw(text, reason, user_pseudonym) AS
    regexp_replace(
        CASE WHEN reason = 'line_too_long' THEN left(text, 10000) ELSE rtrim(text, chr(13) || chr(10)) END,
        '("user_id"\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\s]+)',
        '\1"' || coalesce(user_pseudonym, 'redacted') || '"', 'g');

CREATE OR REPLACE TEMP MACRO json_absent(t) AS t IS NULL OR t = 'NULL';
CREATE OR REPLACE TEMP MACRO json_number(t) AS t IN ('UBIGINT', 'BIGINT', 'DOUBLE');
CREATE OR REPLACE TEMP MACRO json_integer(t) AS t IN ('UBIGINT', 'BIGINT');
-- a value that is absent or null passes its type check (required fields are checked for presence first)
CREATE OR REPLACE TEMP MACRO typed_as(t, ok) AS json_absent(t) OR coalesce(ok, false);
CREATE OR REPLACE TEMP MACRO json_kind(t) AS
    CASE t WHEN 'VARCHAR' THEN 'a string' WHEN 'BOOLEAN' THEN 'a boolean' WHEN 'ARRAY' THEN 'a list'
           WHEN 'OBJECT' THEN 'an object' WHEN 'DOUBLE' THEN 'a number' ELSE 'an integer' END;
CREATE OR REPLACE TEMP MACRO type_detail(field, ok, t, expected) AS
    CASE WHEN NOT ok THEN field || ' must be ' || expected || ', got ' || json_kind(t) END;
CREATE OR REPLACE TEMP MACRO range_detail(field, ok, x) AS
    CASE WHEN NOT ok THEN field || ' = ' || x || ' is outside 0..1' END;
CREATE OR REPLACE TEMP MACRO value_detail(field, ok, x, allowed) AS
    CASE WHEN NOT ok THEN field || ' ''' || x || ''' is not one of ' || array_to_string(allowed, ', ') END;

