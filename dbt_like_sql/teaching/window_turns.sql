-- The turns of the days $days (a DATE[]) as the teaching stage reads them: who said what in which session, what
-- the assistant understood and answered, and the defect model's P(it failed). Ordered as they happened.
SELECT t.day, t.event_id, t.session_id, t.user_id, t.ts, t.asr_text, s.norm_text, s.defect_prob,
       t.nlu_domain || '.' || t.nlu_intent AS intent,
       t.nlu_slots AS slots,
       t.response_text, t.response_status, t.er_status, t.explicit_feedback, coalesce(t.barge_in, false) AS barge_in,
       t.rewrite_applied.layer AS rewrite_layer
FROM ingest.clean_turns AS t
JOIN signals.defect_signals AS s ON s.event_id = t.event_id AND s.day = t.day
WHERE list_contains($days::DATE[], t.day)
ORDER BY t.session_id, t.ts, t.event_id;
