-- The raw annotation lines of one day (`annotation_lines`: file_idx, line, text, bad_utf8) validated
-- against the annotation contract: temp table `staged_annotations`, one row per line, with the label as
-- JSON and the `reason`/`detail` of the first failed check (NULL when valid).
--
-- Reasons, first failing check wins:
--   unreadable_file, invalid_utf8, line_too_long, blank_line, invalid_json, not_an_object  (as for turns)
--   missing_field    event_id, task or annotator absent, null or "", or no "label" key at all
--   bad_type         event_id, task or annotator not a string
--   unknown_task     task is not one of the contract's nine
--   bad_label        the label does not fit its task: failure_point one of false_wake, asr, nlu, er,
--                    result, correct; goal_start / goal_success a boolean; intent a "domain.intent"
--                    string; slots a list of {name: string, value: string}; rephrase_of a non-empty
--                    event id string or null; intended_text a string; preference an object with a
--                    non-empty string key and a string value; preference_use a non-empty string (the key)
--   duplicate_annotation / conflicting_duplicate_annotation  a later copy of the same (event_id, task,
--                    annotator), with the same / a different label; the first copy by (file, line) stays
-- Keys other than event_id, task, annotator and label are ignored. Needs the macros of macros.sql.
CREATE OR REPLACE TEMP TABLE staged_annotations AS
WITH parsed AS (
    SELECT file_idx, line, text, bad_utf8,
        CASE WHEN text IS NOT NULL AND NOT bad_utf8 AND strlen(text) <= $max_line_bytes
             THEN try(json_type(text, ['$.event_id', '$.task', '$.annotator', '$.label', '$'])) END AS t
    FROM annotation_lines
),
fields AS (
    SELECT file_idx, line, text, bad_utf8, t IS NOT NULL AS is_json, t[5] AS root_type,
        t[1] AS event_id_t, t[2] AS task_t, t[3] AS annotator_t, t[4] AS label_t,
        CASE WHEN t[5] = 'OBJECT' THEN json_extract_string(text, ['$.event_id', '$.task', '$.annotator', '$.label']) END AS v,
        CASE WHEN t[4] NOT IN ('NULL') THEN json_extract(text, '$.label') END AS label
    FROM parsed
),
checks AS (
    SELECT *, v[1] AS event_id, v[2] AS task, v[3] AS annotator, v[4] AS label_text,
        CASE v[2]
            WHEN 'failure_point' THEN label_t = 'VARCHAR'
                AND v[4] IN ('false_wake', 'asr', 'nlu', 'er', 'result', 'correct')
            WHEN 'goal_start' THEN label_t = 'BOOLEAN'
            WHEN 'goal_success' THEN label_t = 'BOOLEAN'
            WHEN 'intent' THEN label_t = 'VARCHAR' AND regexp_full_match(v[4], '[^.\s]+\.\S+')
            WHEN 'slots' THEN label_t = 'ARRAY' AND coalesce(list_bool_and(list_transform(
                json_extract(label, '$[*]'),
                lambda e: json_type(e) = 'OBJECT' AND coalesce(json_type(e, '$.name') = 'VARCHAR', false)
                          AND coalesce(json_type(e, '$.value') = 'VARCHAR', false))), true)
            WHEN 'rephrase_of' THEN label_t = 'NULL' OR (label_t = 'VARCHAR' AND v[4] <> '')
            WHEN 'intended_text' THEN label_t = 'VARCHAR'
            WHEN 'preference' THEN label_t = 'OBJECT'
                AND coalesce(json_type(label, '$.key') = 'VARCHAR', false)
                AND coalesce(json_extract_string(label, '$.key') <> '', false)
                AND coalesce(json_type(label, '$.value') = 'VARCHAR', false)
            WHEN 'preference_use' THEN label_t = 'VARCHAR' AND v[4] <> ''
        END AS label_ok
    FROM fields
),
judged AS (
    SELECT *,
        CASE
            WHEN text IS NULL THEN 'unreadable_file'
            WHEN bad_utf8 THEN 'invalid_utf8'
            WHEN strlen(text) > $max_line_bytes THEN 'line_too_long'
            WHEN NOT is_json AND trim(text, chr(32) || chr(9) || chr(13) || chr(10)) = '' THEN 'blank_line'
            WHEN NOT is_json THEN 'invalid_json'
            WHEN root_type <> 'OBJECT' THEN 'not_an_object'
            WHEN json_absent(event_id_t) OR json_absent(task_t) OR json_absent(annotator_t) OR label_t IS NULL
                 OR event_id = '' OR task = '' OR annotator = '' THEN 'missing_field'
            WHEN event_id_t <> 'VARCHAR' OR task_t <> 'VARCHAR' OR annotator_t <> 'VARCHAR' THEN 'bad_type'
            WHEN label_ok IS NULL THEN 'unknown_task'
            WHEN NOT label_ok THEN 'bad_label'
        END AS reason
    FROM checks
)
SELECT file_idx, line, reason,
    CASE reason
        WHEN 'invalid_utf8' THEN 'the line is not valid UTF-8 (bad bytes shown as U+FFFD)'
        WHEN 'line_too_long' THEN 'the line is ' || strlen(text) || ' bytes, over the limit of ' || $max_line_bytes
        WHEN 'blank_line' THEN 'blank line'
        WHEN 'invalid_json' THEN 'not valid JSON'
        WHEN 'not_an_object' THEN 'the line is ' || json_kind(root_type) || ', not a JSON object'
        WHEN 'missing_field' THEN 'missing or empty required field(s): ' || concat_ws(', ',
            CASE WHEN json_absent(event_id_t) OR event_id = '' THEN 'event_id' END,
            CASE WHEN json_absent(task_t) OR task = '' THEN 'task' END,
            CASE WHEN json_absent(annotator_t) OR annotator = '' THEN 'annotator' END,
            CASE WHEN label_t IS NULL THEN 'label' END)
        WHEN 'bad_type' THEN concat_ws('; ',
            type_detail('event_id', event_id_t = 'VARCHAR', event_id_t, 'a string'),
            type_detail('task', task_t = 'VARCHAR', task_t, 'a string'),
            type_detail('annotator', annotator_t = 'VARCHAR', annotator_t, 'a string'))
        WHEN 'unknown_task' THEN 'task ''' || task || ''' is not one of failure_point, goal_start, goal_success, '
            || 'intent, slots, rephrase_of, intended_text, preference, preference_use'
        WHEN 'bad_label' THEN 'label ' || coalesce(label, 'null') || ' does not fit task ' || task || ': expected '
            || CASE task
                WHEN 'failure_point' THEN 'one of false_wake, asr, nlu, er, result, correct'
                WHEN 'goal_start' THEN 'a boolean'
                WHEN 'goal_success' THEN 'a boolean'
                WHEN 'intent' THEN 'a "domain.intent" string'
                WHEN 'slots' THEN 'a list of {name: string, value: string}'
                WHEN 'rephrase_of' THEN 'an event id or null'
                WHEN 'intended_text' THEN 'a string'
                WHEN 'preference' THEN 'an object {key: non-empty string, value: string}'
                WHEN 'preference_use' THEN 'a non-empty string (the key of a taught preference)'
            END
    END AS detail,
    CASE WHEN event_id_t = 'VARCHAR' THEN event_id END AS event_id, task, annotator, label,
    CASE WHEN reason IS NOT NULL THEN quarantine_raw(text, reason, NULL) END AS raw
FROM judged;

-- Later copies of the same (event_id, task, annotator) among the valid lines.
UPDATE staged_annotations AS s
SET reason = d.reason, detail = d.detail
FROM (
    SELECT file_idx, line,
        CASE WHEN same THEN 'duplicate_annotation' ELSE 'conflicting_duplicate_annotation' END AS reason,
        'annotation (' || event_id || ', ' || task || ', ' || annotator || ') already seen at line ' || first_line
            || CASE WHEN same THEN ' with the same label' ELSE ' with a different label' END AS detail
    FROM (
        SELECT file_idx, line, event_id, task, annotator,
            label IS NOT DISTINCT FROM first_value(label) OVER w AS same,
            first_value(line) OVER w AS first_line,
            row_number() OVER w AS copy
        FROM staged_annotations
        WHERE reason IS NULL
        WINDOW w AS (PARTITION BY event_id, task, annotator ORDER BY file_idx, line)
    )
    WHERE copy > 1
) AS d
WHERE s.file_idx = d.file_idx AND s.line = d.line;
