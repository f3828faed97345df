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
-- a value that is absent or null passes its type check (required fields are checked for presence first);
-- `ok` is never NULL for a present value
CREATE OR REPLACE TEMP MACRO typed_as(t, ok) AS t IS NULL OR t = 'NULL' OR ok;

-- Per-field checks of validated_turns.sql: nested members present and castable, scores in 0..1, a duration
-- >= 0, values in their allowed sets; absent values pass. They run on every line, so they are written as
-- `x IS NULL OR ...` (never NULL themselves), which DuckDB evaluates several times faster than coalesce.
CREATE OR REPLACE TEMP MACRO nbest_typed(t, nbest) AS t = 'ARRAY' AND coalesce(list_bool_and(list_transform(
    nbest, lambda x: x.text IS NOT NULL AND x.score IS NOT NULL)), true);
CREATE OR REPLACE TEMP MACRO slots_typed(t, slots) AS t = 'ARRAY' AND coalesce(list_bool_and(list_transform(
    slots, lambda x: x.name IS NOT NULL AND x.value IS NOT NULL)), true);
CREATE OR REPLACE TEMP MACRO rewrite_typed(t, rewrite) AS t = 'OBJECT'
    AND struct_extract(rewrite, 'source_text') IS NOT NULL AND struct_extract(rewrite, 'rewrite_text') IS NOT NULL;
CREATE OR REPLACE TEMP MACRO score_ok(x) AS x IS NULL OR x BETWEEN 0 AND 1;
CREATE OR REPLACE TEMP MACRO nbest_scores_ok(nbest) AS
    coalesce(list_bool_and(list_transform(nbest, lambda x: x.score BETWEEN 0 AND 1)), true);
CREATE OR REPLACE TEMP MACRO duration_ok(t, ms) AS t IS NULL OR t = 'NULL' OR (ms IS NOT NULL AND ms >= 0);
CREATE OR REPLACE TEMP MACRO device_type_ok(x) AS x IS NULL OR x IN ('speaker', 'screen', 'tv', 'car', 'phone', 'other');
CREATE OR REPLACE TEMP MACRO er_status_ok(x) AS x IS NULL OR x IN ('resolved', 'unresolved', 'not_applicable');
CREATE OR REPLACE TEMP MACRO response_status_ok(x) AS
    x IS NULL OR x IN ('success', 'error', 'clarify', 'unsupported', 'no_response');
CREATE OR REPLACE TEMP MACRO explicit_feedback_ok(x) AS x IS NULL OR x IN ('positive', 'negative');
CREATE OR REPLACE TEMP MACRO json_kind(t) AS
    CASE t WHEN 'VARCHAR' THEN 'a string' WHEN 'BOOLEAN' THEN 'a boolean' WHEN 'ARRAY' THEN 'a list'
           WHEN 'OBJECT' THEN 'an object' WHEN 'DOUBLE' THEN 'a number' ELSE 'an integer' END;
CREATE OR REPLACE TEMP MACRO type_detail(field, ok, t, expected) AS
    CASE WHEN NOT ok THEN field || ' must be ' || expected || ', got ' || json_kind(t) END;
CREATE OR REPLACE TEMP MACRO range_detail(field, ok, x) AS
    CASE WHEN NOT ok THEN field || ' = ' || x || ' is outside 0..1' END;
CREATE OR REPLACE TEMP MACRO value_detail(field, ok, x, allowed) AS
    CASE WHEN NOT ok THEN field || ' ''' || x || ''' is not one of ' || array_to_string(allowed, ', ') END;

-- the top-level keys of a line that are not contract fields, and those fields as one JSON object (NULL when
-- none): `extra`, read off the raw text so that each value keeps its JSON form
CREATE OR REPLACE TEMP MACRO unknown_keys(keys) AS list_filter(keys, lambda k: NOT list_contains([
    'event_id', 'session_id', 'user_id', 'device_id', 'ts', 'asr_text', 'device_type', 'locale',
    'wake_score', 'asr_confidence', 'asr_nbest', 'nlu_domain', 'nlu_intent', 'nlu_slots',
    'nlu_confidence', 'er_status', 'er_entity_id', 'response_text', 'response_status',
    'response_duration_ms', 'barge_in', 'explicit_feedback', 'device_state', 'rewrite_applied',
    'audio_uri'], k));
CREATE OR REPLACE TEMP MACRO extra_fields(keys, text) AS nullif(to_json(map_from_entries(list_transform(
    list_distinct(unknown_keys(keys)),
    lambda k: {'key': k, 'value': json_extract(text, '/' || replace(replace(k, '~', '~0'), '/', '~1'))}))), '{}');
