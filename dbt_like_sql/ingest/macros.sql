-- Temp macros shared by the ingest SQL (turns and annotations); created on the connection before use.

-- The pseudonym of a customer or device id: a keyed hash, 16 hex characters.
CREATE OR REPLACE TEMP MACRO pseudonym(key, raw_id) AS left(sha256(key || ':' || raw_id), 16);

-- The contract's identifiers in a text, at any depth and whether or not the text is valid JSON: every
-- "user_id" or "device_id" key with its value (a JSON string, an object or list of one level, or any other
-- token up to the next , } ] or space; a value cut short still matches).
CREATE OR REPLACE TEMP MACRO id_pairs(text) AS regexp_extract_all(text,
    '"(?:user_id|device_id)"\s*:\s*(?:"(?:[^"\\]|\\.)*"|\{[^{}]*\}|\[[^\[\]]*\]|[^,}\]\s]+)');
-- one such pair with its value replaced: a string or other token by its pseudonym (its text between the
-- quotes, escapes as written), an object or list by "redacted"; "redacted" too when there is no key
CREATE OR REPLACE TEMP MACRO pseudonymised_pair(key, pair) AS
    regexp_extract(pair, '^("[a-z_]+"\s*:\s*)', 1) || '"' || CASE
        WHEN regexp_matches(pair, ':\s*[\[{]') THEN 'redacted'
        ELSE coalesce(pseudonym(key, regexp_replace(regexp_extract(pair, ':\s*(.*)$', 1), '^"|"$', '', 'g')), 'redacted')
    END || '"';
-- `text` with the value of every "user_id" and "device_id" key, at any depth, pseudonymised (see id_pairs):
-- no raw customer or device id is stored in quarantined raw text or in `extra`
CREATE OR REPLACE TEMP MACRO redact_ids(key, text) AS
    CASE WHEN contains(text, '"user_id"') OR contains(text, '"device_id"')
         THEN list_reduce(id_pairs(text), lambda acc, pair: replace(acc, pair, pseudonymised_pair(key, pair)), text)
         ELSE text END;

-- The raw text kept for a quarantined line: without its line terminator, the first 10,000 characters of
-- a line over the length limit, and its identifiers pseudonymised with `key` (redact_ids; NULL key: replaced
-- by "redacted").
CREATE OR REPLACE TEMP MACRO quarantine_raw(text, reason, key) AS
    CASE WHEN reason = 'line_too_long' THEN left(redact_ids(key, left(text, 10000)), 10000)
         ELSE redact_ids(key, rtrim(text, chr(13) || chr(10))) END;

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
-- none): `extra`, read off the raw text so that each value keeps its JSON form, with nested identifiers
-- pseudonymised (redact_ids)
CREATE OR REPLACE TEMP MACRO contract_fields() AS [
    'event_id', 'session_id', 'user_id', 'device_id', 'ts', 'asr_text', 'device_type', 'locale',
    'wake_score', 'asr_confidence', 'asr_nbest', 'nlu_domain', 'nlu_intent', 'nlu_slots',
    'nlu_confidence', 'er_status', 'er_entity_id', 'response_text', 'response_status',
    'response_duration_ms', 'barge_in', 'explicit_feedback', 'device_state', 'rewrite_applied',
    'audio_uri'];
CREATE OR REPLACE TEMP MACRO unknown_keys(keys) AS list_filter(keys, lambda k: NOT list_contains(contract_fields(), k));
-- true when every key is a contract field and none is given twice (what most lines are): one bit per field
-- present, so with a key given twice (or an unknown key) fewer bits are set than there are keys. One cheap
-- pass over the keys; the first pass (fast_validated_turns.sql) looks closer only at the other lines.
CREATE OR REPLACE TEMP MACRO only_distinct_contract_keys(keys) AS
    bit_count(coalesce(list_sum(list_transform(keys, lambda k: 1::BIGINT << list_position(contract_fields(), k))), 0))
        = len(keys);
CREATE OR REPLACE TEMP MACRO extra_fields(keys, text, key) AS redact_ids(key, nullif(to_json(map_from_entries(
    list_transform(list_distinct(unknown_keys(keys)),
    lambda k: {'key': k, 'value': json_extract(text, '/' || replace(replace(k, '~', '~0'), '/', '~1'))})))::VARCHAR, '{}'))::JSON;
-- a top-level key that occurs more than once (JSON readers keep one of the values, silently): the keys, or NULL
CREATE OR REPLACE TEMP MACRO duplicated_keys(keys) AS
    CASE WHEN len(keys) <> len(list_distinct(keys))
         THEN list_sort(list_distinct(list_filter(keys, lambda k, i: list_position(keys, k) < i))) END;
