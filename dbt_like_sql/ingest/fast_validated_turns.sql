-- fast_validated_turns(p_day, p_pseudonym_key, p_max_line_bytes): the first, cheaper pass over the raw lines
-- (`turn_lines`): the columns of validated_turns.sql, with `is_clean` set only for the lines this pass can
-- prove valid, typed exactly as validated_turns types them. A line it does not take in is not rejected: the
-- caller validates it again with validated_turns, which decides and words every verdict. So this pass may
-- turn a valid line away (that only costs time) but must never take in a line that validated_turns would
-- reject or type differently (test_ingest.py checks both passes line by line on tricky and random input).
--
-- Each line is parsed twice (json_keys, json_transform) instead of three times: the JSON type of a field is
-- read off the transformed value, without json_type. That works because of how json_transform converts a
-- value of another JSON type:
--   - to VARCHAR, a number, boolean, object or list becomes its text ('1.5', 'NaN', 'true', '{"a":1}') and
--     null becomes NULL: a string field passes when its text cannot be such a rendering (plain_string), and
--     on the few lines where one of them can, json_type, asked for the string fields only, decides;
--   - to a list or a map, anything but a JSON list or object becomes NULL: a NULL there passes when the
--     field is absent (json_keys) or json_type, asked for just that field, says null;
--   - to a struct, anything but an object becomes a struct of NULLs; only null or absent gives NULL;
--   - to JSON (the ids and er_entity_id, which may well be numeric strings, and the numbers, the boolean and
--     ts), a value becomes its JSON text, whose first character tells its type; a string's value is the text
--     between the quotes when it has no escapes, a number's is cast from it (its shortest round-trip text
--     casts back to the DOUBLE json_transform gives); null and absent give NULL.
-- Unknown fields are found from json_keys and kept in `extra` as validated_turns keeps them. A line with a
-- duplicated top-level key is left to validated_turns (which rejects it). Only a line that starts with "{" and ends with "}" is parsed, so
-- that a truncated line does not send its whole vector of lines through try()'s row-by-row retry.

-- Needs the macros of macros.sql.

-- a VARCHAR read by json_transform: true when it was a JSON string, NULL when it reads like the text of another
-- JSON value (a number in any form DuckDB's JSON reader accepts, NaN and Infinity included, all cast to
-- DOUBLE; a boolean; an object or a list), for json_type to decide. Only a value starting with one of
-- - 0-9 I N [ f i n t { is looked at more closely.
CREATE OR REPLACE TEMP MACRO plain_string(v) AS
    CASE WHEN v IS NULL OR ascii(v) NOT IN (45, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 73, 78, 91, 102, 105, 110, 116, 123)
              THEN true
         WHEN ascii(v) IN (91, 123) THEN CASE WHEN NOT json_valid(v) THEN true END
         WHEN v NOT IN ('true', 'false') AND try_cast(v AS DOUBLE) IS NULL THEN true END;
-- the value of a field read as JSON text when that is a string without escapes (then it is the text between
-- the quotes)
CREATE OR REPLACE TEMP MACRO json_text_string(j) AS CASE WHEN ascii(j) = 34 AND NOT contains(j, '\') THEN j[2:-2] END;
-- the value of a field read as JSON text when that is a number (first character a digit or "-")
CREATE OR REPLACE TEMP MACRO json_text_number(j) AS CASE WHEN ascii(j) BETWEEN 48 AND 57 OR ascii(j) = 45 THEN try_cast(j AS DOUBLE) END;
-- a field read as a list or map that came out NULL: absent, or present as null (keys is NULL when the line
-- is not JSON, and json_type must not see such a line)
CREATE OR REPLACE TEMP MACRO null_or_absent(keys, candidate, field) AS
    CASE WHEN keys IS NULL THEN false WHEN NOT list_contains(keys, field) THEN true
         ELSE json_type(candidate, '$.' || field) = 'NULL' END;

CREATE OR REPLACE TEMP MACRO fast_validated_turns(p_day, p_pseudonym_key, p_max_line_bytes) AS TABLE
WITH lines AS (
    SELECT file_idx, line, text,
        CASE WHEN NOT bad_utf8 AND strlen(text) <= p_max_line_bytes AND starts_with(text, '{')
                  AND (suffix(text, '}' || chr(10)) OR suffix(text, '}') OR suffix(text, '}' || chr(13) || chr(10)))
             THEN text END AS candidate
    FROM turn_lines
),
keyed AS (
    SELECT *, try(json_keys(candidate)) AS keys FROM lines
),
records AS (
    SELECT file_idx, line, text, candidate, keys,
        json_transform(CASE WHEN keys IS NOT NULL THEN candidate END, '{
            "event_id": "JSON", "session_id": "JSON", "user_id": "JSON", "device_id": "JSON",
            "ts": "JSON", "asr_text": "VARCHAR", "device_type": "VARCHAR", "locale": "VARCHAR",
            "wake_score": "JSON", "asr_confidence": "JSON",
            "asr_nbest": [{"text": "VARCHAR", "score": "DOUBLE"}],
            "nlu_domain": "VARCHAR", "nlu_intent": "VARCHAR",
            "nlu_slots": [{"name": "VARCHAR", "value": "VARCHAR"}],
            "nlu_confidence": "JSON", "er_status": "VARCHAR", "er_entity_id": "JSON",
            "response_text": "VARCHAR", "response_status": "VARCHAR", "response_duration_ms": "JSON",
            "barge_in": "JSON", "explicit_feedback": "VARCHAR", "device_state": "MAP(VARCHAR, VARCHAR)",
            "rewrite_applied": {"rewrite_id": "VARCHAR", "source_text": "VARCHAR", "rewrite_text": "VARCHAR", "layer": "VARCHAR"},
            "audio_uri": "VARCHAR"}') AS r
    FROM keyed
),
fields AS (
    SELECT file_idx, line, text, candidate, keys,
        r.event_id::VARCHAR AS event_id_json, r.session_id::VARCHAR AS session_id_json,
        r.user_id::VARCHAR AS user_id_json, r.device_id::VARCHAR AS device_id_json, r.ts::VARCHAR AS ts_json, r.asr_text,
        r.device_type, r.locale, r.wake_score::VARCHAR AS wake_score_json,
        r.asr_confidence::VARCHAR AS asr_confidence_json, r.asr_nbest, r.nlu_domain, r.nlu_intent, r.nlu_slots,
        r.nlu_confidence::VARCHAR AS nlu_confidence_json, r.er_status, r.er_entity_id::VARCHAR AS er_entity_id_json,
        r.response_text,
        r.response_status, r.response_duration_ms::VARCHAR AS response_duration_ms_json,
        r.barge_in::VARCHAR AS barge_in_json, r.explicit_feedback, r.device_state, r.rewrite_applied, r.audio_uri
    FROM records
),
derived AS (
    SELECT *,
        json_text_string(event_id_json) AS event_id, json_text_string(session_id_json) AS session_id,
        json_text_string(user_id_json) AS raw_user_id, json_text_string(device_id_json) AS raw_device_id,
        json_text_string(er_entity_id_json) AS er_entity_id,
        -- ts as validated_turns reads it: a JSON string without escapes, or a non-negative JSON integer
        json_text_string(ts_json) AS ts_string,
        CASE WHEN ascii(ts_json) BETWEEN 48 AND 57 AND ltrim(ts_json, '0123456789') = '' THEN ts_json END AS ts_integer,
        json_text_number(wake_score_json) AS wake_score,
        json_text_number(asr_confidence_json) AS asr_confidence,
        json_text_number(nlu_confidence_json) AS nlu_confidence,
        CASE WHEN ascii(response_duration_ms_json) BETWEEN 48 AND 57 AND ltrim(response_duration_ms_json, '0123456789') = ''
             THEN try_cast(response_duration_ms_json AS BIGINT) END AS response_duration_ms,
        CASE WHEN barge_in_json IN ('true', 'false') THEN barge_in_json = 'true' END AS barge_in,
        plain_string(asr_text) AND plain_string(locale) AND plain_string(nlu_domain) AND plain_string(nlu_intent)
            AND plain_string(response_text) AND plain_string(audio_uri) AS plain_strings,
        only_distinct_contract_keys(keys) AS plain_keys
    FROM fields
),
typed AS (
    SELECT *,
        pseudonym(p_pseudonym_key, raw_user_id) AS user_id,
        pseudonym(p_pseudonym_key, raw_device_id) AS device_id,
        CASE WHEN suffix(ts_string, 'Z') OR ts_string LIKE '__________%+%' OR ts_string LIKE '__________%-%'
                 THEN make_timestamp(epoch_us(try_cast(ts_string AS TIMESTAMPTZ)))
             WHEN abs(try_cast(ts_integer AS HUGEINT)) < 253402300800000 THEN epoch_ms(ts_integer::BIGINT)
        END AS ts,
        -- (CASE, so that the closer looks at the keys are taken on the few lines that need them)
        CASE WHEN plain_keys THEN false ELSE len(unknown_keys(keys)) > 0 END AS has_unknown_keys,
        CASE WHEN plain_keys THEN true ELSE len(list_distinct(keys)) = len(keys) END AS distinct_keys,
        -- the exact JSON types of the string fields, only for a line where one of them reads like another value
        CASE WHEN plain_strings IS NULL THEN json_type(candidate, [
            '$.asr_text', '$.locale', '$.nlu_domain', '$.nlu_intent', '$.response_text', '$.audio_uri']) END
            AS string_types
    FROM derived
),
verdicts AS (
    SELECT *,
        event_id <> '' AND session_id <> '' AND raw_user_id <> '' AND raw_device_id <> '' AND asr_text IS NOT NULL
        AND distinct_keys
        AND (er_entity_id_json IS NULL OR er_entity_id IS NOT NULL)
        AND coalesce(plain_strings, list_bool_and(list_transform(
            [asr_text, locale, nlu_domain, nlu_intent, response_text, audio_uri],
            lambda v, i: coalesce(plain_string(v), string_types[i] = 'VARCHAR', false))))
        AND ts::DATE = p_day
        AND (wake_score_json IS NULL OR wake_score BETWEEN 0 AND 1)
        AND (asr_confidence_json IS NULL OR asr_confidence BETWEEN 0 AND 1)
        AND (nlu_confidence_json IS NULL OR nlu_confidence BETWEEN 0 AND 1)
        AND (response_duration_ms_json IS NULL OR response_duration_ms IS NOT NULL)
        AND (barge_in_json IS NULL OR barge_in IS NOT NULL)
        AND CASE WHEN asr_nbest IS NOT NULL THEN nbest_typed('ARRAY', asr_nbest) AND nbest_scores_ok(asr_nbest)
                 ELSE null_or_absent(keys, candidate, 'asr_nbest') END
        AND CASE WHEN nlu_slots IS NOT NULL THEN slots_typed('ARRAY', nlu_slots)
                 ELSE null_or_absent(keys, candidate, 'nlu_slots') END
        AND CASE WHEN device_state IS NOT NULL THEN true ELSE null_or_absent(keys, candidate, 'device_state') END
        AND (rewrite_applied IS NULL OR rewrite_typed('OBJECT', rewrite_applied))
        AND device_type_ok(device_type) AND er_status_ok(er_status) AND response_status_ok(response_status)
        AND explicit_feedback_ok(explicit_feedback) AS passed
    FROM typed
)
SELECT
    file_idx, line,
    event_id, session_id, user_id, device_id, ts, asr_text, device_type, coalesce(locale, 'en-US') AS locale, wake_score,
    asr_confidence, asr_nbest, nlu_domain, nlu_intent, nlu_slots, nlu_confidence, er_status, er_entity_id, response_text,
    response_status, response_duration_ms, barge_in, explicit_feedback, device_state, rewrite_applied, audio_uri,
    -- unknown top-level fields, as one JSON object (macros.sql, as in validated_turns.sql)
    CASE WHEN has_unknown_keys THEN extra_fields(keys, text, p_pseudonym_key) END AS extra,
    -- never NULL; the always-true volatile term keeps a `WHERE is_clean` above the parsing (validated_turns.sql)
    coalesce(passed, false) AND random() >= 0 AS is_clean
FROM verdicts;
