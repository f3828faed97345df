-- Turns of the given days for the label-generation model, in session order: the model's inputs from contract
-- fields only (utterance, response, NLU domain and intent, status, device type and state as sorted `key=value`
-- tokens, hour of day, ASR/NLU confidence) and the implicit feedback its weak labels read. Optional fields
-- may be NULL; each has a neutral fallback here or in lib/models/label_data.py.
SELECT
    t.day, t.event_id, t.session_id, t.ts,
    coalesce(t.asr_text, '') AS utterance,
    coalesce(t.response_text, '') AS response,
    coalesce(t.nlu_domain, 'none') AS domain,
    CASE WHEN t.nlu_domain IS NULL OR t.nlu_intent IS NULL THEN 'unknown'
         ELSE t.nlu_domain || '.' || t.nlu_intent END AS nlu_intent,
    coalesce(t.nlu_slots, []) AS nlu_slots,
    coalesce(t.response_status, 'missing') AS status,
    coalesce(t.device_type, 'missing') AS device_type,
    coalesce(array_to_string(list_sort(
        list_transform(map_entries(t.device_state), lambda e: e.key || '=' || e.value)), ' '), '') AS state,
    hour(t.ts) AS hour,
    t.asr_confidence AS asr_conf,
    t.nlu_confidence AS nlu_conf,
    coalesce(t.barge_in, false) AS barge_in,
    t.explicit_feedback
FROM ingest.clean_turns AS t
WHERE t.day IN (SELECT unnest($days::DATE[]))
ORDER BY t.session_id, t.ts, t.event_id;
