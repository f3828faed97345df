-- The turns of the days $days (a DATE[]) as the online layers read them: who said which normalised text, the
-- defect model's P(it failed), and the assistant's interpretation of it ("domain.intent", slots as a canonical
-- "name=value;..." key). Turns without speech are left out.
SELECT s.day, s.user_id, s.norm_text, s.defect_prob,
       t.nlu_domain || '.' || t.nlu_intent AS intent,
       array_to_string(list_sort(list_transform(coalesce(t.nlu_slots, []),
           lambda x: lower(x.name) || '=' || lower(x.value))), ';') AS slots
FROM signals.defect_signals AS s
JOIN ingest.clean_turns AS t ON t.event_id = s.event_id AND t.day = s.day
WHERE list_contains($days::DATE[], s.day) AND s.norm_text <> ''
ORDER BY s.day, s.user_id, s.ts, s.event_id;
