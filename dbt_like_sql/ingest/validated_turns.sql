-- validated_turns(p_day, p_pseudonym_key, p_max_line_bytes): the raw lines of one file, validated against
-- the raw turn-log contract (v1) and typed. A table macro over `turn_lines` (file_idx, line, text,
-- bad_utf8: one row per line, registered from Arrow; see lib/ingest/lines.py).
-- One row per line: the typed contract columns (user_id and device_id already pseudonymised), the `reason` and `detail`
-- of the first check the line fails (NULL when valid), for a failing line the `raw` text to keep, and
-- `is_clean` (reason IS NULL) for callers to filter on.
-- Duplicate event ids are settled afterwards, across files (duplicate_turns.sql). Ingestion runs this full
-- validation only on the lines that the cheaper first pass (fast_validated_turns.sql) did not take in.
--
-- Reasons, first failing check wins:
--   unreadable_file   the whole file could not be read (one row, line 0)
--   invalid_utf8      the line is not UTF-8 (its text is kept with U+FFFD replacement characters)
--   line_too_long     over p_max_line_bytes bytes, line terminator included
--   blank_line        empty or only whitespace
--   invalid_json      not parseable as JSON
--   not_an_object     JSON, but not an object
--   duplicate_key     a top-level key occurs more than once (JSON readers would silently keep one value)
--   missing_field     a required field (event_id, session_id, user_id, device_id, ts, asr_text) is absent or
--                     null, or one of the four ids is ""
--   bad_type          a field has another JSON type than the contract's (no coercion: "0.5" is not a
--                     number, 1.5 not an integer), or a nested member is missing or not castable
--   bad_timestamp     ts is neither ISO-8601 with a UTC offset ("Z" or ±hh[:mm]) nor integer epoch ms
--   partition_mismatch  the UTC date of ts is not the partition's day
--   out_of_range      a score outside 0..1 (wake_score, asr_confidence, nlu_confidence, nbest scores) or
--                     response_duration_ms < 0
--   bad_value         device_type, er_status, response_status or explicit_feedback outside its allowed set
--
-- Each line is parsed three times by DuckDB's JSON reader: json_type over all paths at once (the exact
-- JSON types of the top-level fields), json_transform (the values, typed) and json_keys (unknown fields,
-- kept in `extra`); each of them runs once per line on the guarded text, never inside a CASE and never
-- copied into a filter (see `is_clean`). Inside nested fields members are cast as json_transform does (a
-- number where a string is expected becomes its text); a member that cannot be cast or is missing (nbest
-- text/score, slot name/value, rewrite source_text/rewrite_text) makes the field bad_type.
-- Checks are booleans on every row (the check macros are in macros.sql); the human-readable detail is only
-- built for the rejected ones.

-- Needs the macros of macros.sql.

CREATE OR REPLACE TEMP MACRO validated_turns(p_day, p_pseudonym_key, p_max_line_bytes) AS TABLE
WITH lines AS (
    -- only a line that was read, is UTF-8 and is within the length limit is parsed at all
    SELECT file_idx, line, text, bad_utf8,
        CASE WHEN NOT bad_utf8 AND strlen(text) <= p_max_line_bytes THEN text END AS candidate
    FROM turn_lines
),
parsed AS (
    -- t[i]: the JSON type of field i (NULL when absent), t[26] the line's own; NULL when not JSON
    SELECT *, try(json_type(candidate, [
            '$.event_id', '$.session_id', '$.user_id', '$.device_id', '$.ts', '$.asr_text', '$.device_type',
            '$.locale', '$.wake_score', '$.asr_confidence', '$.asr_nbest', '$.nlu_domain', '$.nlu_intent',
            '$.nlu_slots', '$.nlu_confidence', '$.er_status', '$.er_entity_id', '$.response_text',
            '$.response_status', '$.response_duration_ms', '$.barge_in', '$.explicit_feedback',
            '$.device_state', '$.rewrite_applied', '$.audio_uri', '$'])) AS t
    FROM lines
),
objects AS (
    SELECT file_idx, line, text, bad_utf8, t, CASE WHEN t[26] = 'OBJECT' THEN candidate END AS obj FROM parsed
),
records AS (
    -- r: the values cast to the contract's types (a value of the wrong JSON type is caught through t).
    -- The heavy functions take the guarded text as input (rather than sitting inside a CASE), so each
    -- runs once per line with nothing to merge afterwards.
    SELECT file_idx, line, text, bad_utf8, t,
        json_transform(obj, '{
            "event_id": "VARCHAR", "session_id": "VARCHAR", "user_id": "VARCHAR", "device_id": "VARCHAR",
            "ts": "VARCHAR", "asr_text": "VARCHAR", "device_type": "VARCHAR", "locale": "VARCHAR",
            "wake_score": "DOUBLE", "asr_confidence": "DOUBLE",
            "asr_nbest": [{"text": "VARCHAR", "score": "DOUBLE"}],
            "nlu_domain": "VARCHAR", "nlu_intent": "VARCHAR",
            "nlu_slots": [{"name": "VARCHAR", "value": "VARCHAR"}],
            "nlu_confidence": "DOUBLE", "er_status": "VARCHAR", "er_entity_id": "VARCHAR",
            "response_text": "VARCHAR", "response_status": "VARCHAR", "response_duration_ms": "BIGINT",
            "barge_in": "BOOLEAN", "explicit_feedback": "VARCHAR", "device_state": "MAP(VARCHAR, VARCHAR)",
            "rewrite_applied": {"rewrite_id": "VARCHAR", "source_text": "VARCHAR", "rewrite_text": "VARCHAR", "layer": "VARCHAR"},
            "audio_uri": "VARCHAR"}') AS r,
        json_keys(obj) AS keys
    FROM objects
),
fields AS (
    SELECT file_idx, line, text, bad_utf8, t IS NOT NULL AS is_json, t[26] AS root_type, keys,
        -- more keys than known fields present: the line has unknown top-level fields
        len(keys) > list_count(t) - 1 AS has_unknown_keys,
        t[1] AS event_id_t, r.event_id, t[2] AS session_id_t, r.session_id,
        t[3] AS user_id_t, r.user_id AS raw_user_id, t[4] AS device_id_t, r.device_id AS raw_device_id,
        t[5] AS ts_t, r.ts AS ts_text, t[6] AS asr_text_t, r.asr_text,
        t[7] AS device_type_t, r.device_type, t[8] AS locale_t, r.locale,
        t[9] AS wake_score_t, r.wake_score, t[10] AS asr_confidence_t, r.asr_confidence,
        t[11] AS asr_nbest_t, r.asr_nbest, t[12] AS nlu_domain_t, r.nlu_domain,
        t[13] AS nlu_intent_t, r.nlu_intent, t[14] AS nlu_slots_t, r.nlu_slots,
        t[15] AS nlu_confidence_t, r.nlu_confidence, t[16] AS er_status_t, r.er_status,
        t[17] AS er_entity_id_t, r.er_entity_id, t[18] AS response_text_t, r.response_text,
        t[19] AS response_status_t, r.response_status,
        t[20] AS response_duration_ms_t, r.response_duration_ms,
        t[21] AS barge_in_t, r.barge_in, t[22] AS explicit_feedback_t, r.explicit_feedback,
        t[23] AS device_state_t, r.device_state, t[24] AS rewrite_applied_t, r.rewrite_applied,
        t[25] AS audio_uri_t, r.audio_uri
    FROM records
),
derived AS (
    SELECT *,
        CASE WHEN user_id_t = 'VARCHAR' THEN pseudonym(p_pseudonym_key, raw_user_id) END AS user_id,
        CASE WHEN device_id_t = 'VARCHAR' THEN pseudonym(p_pseudonym_key, raw_device_id) END AS device_id,
        -- an ISO-8601 string needs a UTC offset after its date part (a "+" or "-" from the 11th character
        -- on, or a final "Z"); an integer is epoch milliseconds
        CASE WHEN ts_t = 'VARCHAR' AND (suffix(ts_text, 'Z') OR ts_text LIKE '__________%+%'
                                        OR ts_text LIKE '__________%-%')
                 THEN make_timestamp(epoch_us(try_cast(ts_text AS TIMESTAMPTZ)))  -- the UTC instant, naive
             WHEN json_integer(ts_t) AND abs(try_cast(ts_text AS HUGEINT)) < 253402300800000
                 THEN epoch_ms(ts_text::BIGINT)
        END AS ts
    FROM fields
),
checks AS (
    -- every check, field by field
    SELECT *,
        NOT json_absent(event_id_t) AND event_id <> '' AS event_id_present,
        NOT json_absent(session_id_t) AND session_id <> '' AS session_id_present,
        NOT json_absent(user_id_t) AND raw_user_id <> '' AS user_id_present,
        NOT json_absent(device_id_t) AND raw_device_id <> '' AS device_id_present,
        NOT json_absent(ts_t) AS ts_present,
        NOT json_absent(asr_text_t) AS asr_text_present,
        typed_as(event_id_t, event_id_t = 'VARCHAR') AS event_id_typed,
        typed_as(session_id_t, session_id_t = 'VARCHAR') AS session_id_typed,
        typed_as(user_id_t, user_id_t = 'VARCHAR') AS user_id_typed,
        typed_as(device_id_t, device_id_t = 'VARCHAR') AS device_id_typed,
        typed_as(ts_t, ts_t = 'VARCHAR' OR json_integer(ts_t)) AS ts_typed,
        typed_as(asr_text_t, asr_text_t = 'VARCHAR') AS asr_text_typed,
        typed_as(device_type_t, device_type_t = 'VARCHAR') AS device_type_typed,
        typed_as(locale_t, locale_t = 'VARCHAR') AS locale_typed,
        typed_as(wake_score_t, json_number(wake_score_t)) AS wake_score_typed,
        typed_as(asr_confidence_t, json_number(asr_confidence_t)) AS asr_confidence_typed,
        typed_as(asr_nbest_t, nbest_typed(asr_nbest_t, asr_nbest)) AS asr_nbest_typed,
        typed_as(nlu_domain_t, nlu_domain_t = 'VARCHAR') AS nlu_domain_typed,
        typed_as(nlu_intent_t, nlu_intent_t = 'VARCHAR') AS nlu_intent_typed,
        typed_as(nlu_slots_t, slots_typed(nlu_slots_t, nlu_slots)) AS nlu_slots_typed,
        typed_as(nlu_confidence_t, json_number(nlu_confidence_t)) AS nlu_confidence_typed,
        typed_as(er_status_t, er_status_t = 'VARCHAR') AS er_status_typed,
        typed_as(er_entity_id_t, er_entity_id_t = 'VARCHAR') AS er_entity_id_typed,
        typed_as(response_text_t, response_text_t = 'VARCHAR') AS response_text_typed,
        typed_as(response_status_t, response_status_t = 'VARCHAR') AS response_status_typed,
        typed_as(response_duration_ms_t, json_integer(response_duration_ms_t)) AS response_duration_ms_typed,
        typed_as(barge_in_t, barge_in_t = 'BOOLEAN') AS barge_in_typed,
        typed_as(explicit_feedback_t, explicit_feedback_t = 'VARCHAR') AS explicit_feedback_typed,
        typed_as(device_state_t, device_state_t = 'OBJECT') AS device_state_typed,
        typed_as(rewrite_applied_t, rewrite_typed(rewrite_applied_t, rewrite_applied)) AS rewrite_applied_typed,
        typed_as(audio_uri_t, audio_uri_t = 'VARCHAR') AS audio_uri_typed,
        score_ok(wake_score) AS wake_score_in_range,
        score_ok(asr_confidence) AS asr_confidence_in_range,
        score_ok(nlu_confidence) AS nlu_confidence_in_range,
        nbest_scores_ok(asr_nbest) AS asr_nbest_in_range,
        duration_ok(response_duration_ms_t, response_duration_ms) AS response_duration_ms_in_range,
        device_type_ok(device_type) AS device_type_allowed,
        er_status_ok(er_status) AS er_status_allowed,
        response_status_ok(response_status) AS response_status_allowed,
        explicit_feedback_ok(explicit_feedback) AS explicit_feedback_allowed
    FROM derived
),
verdicts AS (
    SELECT *,
        CASE
            WHEN text IS NULL THEN 'unreadable_file'
            WHEN bad_utf8 THEN 'invalid_utf8'
            WHEN strlen(text) > p_max_line_bytes THEN 'line_too_long'
            WHEN NOT is_json AND trim(text, chr(32) || chr(9) || chr(13) || chr(10)) = '' THEN 'blank_line'
            WHEN NOT is_json THEN 'invalid_json'
            WHEN root_type <> 'OBJECT' THEN 'not_an_object'
            WHEN duplicated_keys(keys) IS NOT NULL THEN 'duplicate_key'
            WHEN NOT (event_id_present AND session_id_present AND user_id_present AND device_id_present
                      AND ts_present AND asr_text_present) THEN 'missing_field'
            WHEN NOT (event_id_typed AND session_id_typed AND user_id_typed AND device_id_typed AND ts_typed
                      AND asr_text_typed AND device_type_typed AND locale_typed AND wake_score_typed
                      AND asr_confidence_typed AND asr_nbest_typed AND nlu_domain_typed AND nlu_intent_typed
                      AND nlu_slots_typed AND nlu_confidence_typed AND er_status_typed AND er_entity_id_typed
                      AND response_text_typed AND response_status_typed AND response_duration_ms_typed
                      AND barge_in_typed AND explicit_feedback_typed AND device_state_typed
                      AND rewrite_applied_typed AND audio_uri_typed) THEN 'bad_type'
            WHEN ts IS NULL THEN 'bad_timestamp'
            WHEN ts::DATE <> p_day THEN 'partition_mismatch'
            WHEN NOT (wake_score_in_range AND asr_confidence_in_range AND nlu_confidence_in_range
                      AND asr_nbest_in_range AND response_duration_ms_in_range) THEN 'out_of_range'
            WHEN NOT (device_type_allowed AND er_status_allowed AND response_status_allowed
                      AND explicit_feedback_allowed) THEN 'bad_value'
        END AS reason
    FROM checks
)
SELECT
    file_idx, line, reason,
    CASE reason
        WHEN 'unreadable_file' THEN 'the file could not be read'
        WHEN 'invalid_utf8' THEN 'the line is not valid UTF-8 (bad bytes shown as U+FFFD)'
        WHEN 'line_too_long' THEN 'the line is ' || strlen(text) || ' bytes, over the limit of ' || p_max_line_bytes
        WHEN 'blank_line' THEN 'blank line'
        WHEN 'invalid_json' THEN 'not valid JSON'
        WHEN 'not_an_object' THEN 'the line is ' || json_kind(root_type) || ', not a JSON object'
        WHEN 'duplicate_key' THEN 'key(s) given more than once: ' || array_to_string(duplicated_keys(keys), ', ')
        WHEN 'missing_field' THEN 'missing or empty required field(s): ' || concat_ws(', ',
            CASE WHEN NOT event_id_present THEN 'event_id' END, CASE WHEN NOT session_id_present THEN 'session_id' END,
            CASE WHEN NOT user_id_present THEN 'user_id' END, CASE WHEN NOT device_id_present THEN 'device_id' END,
            CASE WHEN NOT ts_present THEN 'ts' END, CASE WHEN NOT asr_text_present THEN 'asr_text' END)
        WHEN 'bad_type' THEN concat_ws('; ',
            type_detail('event_id', event_id_typed, event_id_t, 'a string'),
            type_detail('session_id', session_id_typed, session_id_t, 'a string'),
            type_detail('user_id', user_id_typed, user_id_t, 'a string'),
            type_detail('device_id', device_id_typed, device_id_t, 'a string'),
            type_detail('ts', ts_typed, ts_t, 'an ISO-8601 string or integer epoch milliseconds'),
            type_detail('asr_text', asr_text_typed, asr_text_t, 'a string'),
            type_detail('device_type', device_type_typed, device_type_t, 'a string'),
            type_detail('locale', locale_typed, locale_t, 'a string'),
            type_detail('wake_score', wake_score_typed, wake_score_t, 'a number'),
            type_detail('asr_confidence', asr_confidence_typed, asr_confidence_t, 'a number'),
            type_detail('asr_nbest', asr_nbest_typed, asr_nbest_t, 'a list of {text: string, score: number}'),
            type_detail('nlu_domain', nlu_domain_typed, nlu_domain_t, 'a string'),
            type_detail('nlu_intent', nlu_intent_typed, nlu_intent_t, 'a string'),
            type_detail('nlu_slots', nlu_slots_typed, nlu_slots_t, 'a list of {name: string, value: string}'),
            type_detail('nlu_confidence', nlu_confidence_typed, nlu_confidence_t, 'a number'),
            type_detail('er_status', er_status_typed, er_status_t, 'a string'),
            type_detail('er_entity_id', er_entity_id_typed, er_entity_id_t, 'a string'),
            type_detail('response_text', response_text_typed, response_text_t, 'a string'),
            type_detail('response_status', response_status_typed, response_status_t, 'a string'),
            type_detail('response_duration_ms', response_duration_ms_typed, response_duration_ms_t, 'an integer'),
            type_detail('barge_in', barge_in_typed, barge_in_t, 'a boolean'),
            type_detail('explicit_feedback', explicit_feedback_typed, explicit_feedback_t, 'a string'),
            type_detail('device_state', device_state_typed, device_state_t, 'an object of strings'),
            type_detail('rewrite_applied', rewrite_applied_typed, rewrite_applied_t,
                        'an object {rewrite_id, source_text, rewrite_text, layer} with source_text and rewrite_text'),
            type_detail('audio_uri', audio_uri_typed, audio_uri_t, 'a string'))
        WHEN 'bad_timestamp' THEN 'ts ' || ts_text || ' is neither ISO-8601 with a UTC offset nor epoch milliseconds'
        WHEN 'partition_mismatch' THEN 'ts ' || ts_text || ' falls on ' || ts::DATE || ' (UTC), not on the partition day ' || p_day
        WHEN 'out_of_range' THEN concat_ws('; ',
            range_detail('wake_score', wake_score_in_range, wake_score),
            range_detail('asr_confidence', asr_confidence_in_range, asr_confidence),
            range_detail('nlu_confidence', nlu_confidence_in_range, nlu_confidence),
            CASE WHEN NOT asr_nbest_in_range THEN 'asr_nbest has a score outside 0..1' END,
            CASE WHEN NOT response_duration_ms_in_range
                 THEN 'response_duration_ms = ' || coalesce(response_duration_ms::VARCHAR, 'a huge number')
                      || ' is not an integer in 0..2^63' END)
        WHEN 'bad_value' THEN concat_ws('; ',
            value_detail('device_type', device_type_allowed, device_type, ['speaker', 'screen', 'tv', 'car', 'phone', 'other']),
            value_detail('er_status', er_status_allowed, er_status, ['resolved', 'unresolved', 'not_applicable']),
            value_detail('response_status', response_status_allowed, response_status,
                         ['success', 'error', 'clarify', 'unsupported', 'no_response']),
            value_detail('explicit_feedback', explicit_feedback_allowed, explicit_feedback, ['positive', 'negative']))
    END AS detail,
    event_id, session_id, user_id, device_id, ts, asr_text, device_type, coalesce(locale, 'en-US') AS locale, wake_score, asr_confidence,
    asr_nbest, nlu_domain, nlu_intent, nlu_slots, nlu_confidence, er_status, er_entity_id, response_text,
    response_status, response_duration_ms, barge_in, explicit_feedback, device_state, rewrite_applied, audio_uri,
    -- unknown top-level fields, as one JSON object
    CASE WHEN has_unknown_keys THEN extra_fields(keys, text, p_pseudonym_key) END AS extra,
    CASE WHEN reason IS NOT NULL THEN quarantine_raw(text, reason, p_pseudonym_key) END AS raw,
    -- what callers filter on (`WHERE is_clean` / `WHERE NOT is_clean`). The always-true volatile term keeps
    -- DuckDB from pushing such a filter down through the projections above: that would copy the whole
    -- reason expression, and with it the JSON parse, into the filter once per field reference.
    reason IS NULL AND random() >= 0 AS is_clean
FROM verdicts;
