-- Event ids of the customer forgotten that a clean turn of another customer carries too (ids reused across
-- days, which the event_ids_unique_across_days check warns of): for those, only the rows of the customer's
-- day go. Inputs: getvariable('forget_event_ids') and getvariable('forget_pseudonyms') (VARCHAR[] each).
SELECT DISTINCT event_id
FROM ingest.clean_turns
WHERE event_id IN (SELECT unnest(getvariable('forget_event_ids')::VARCHAR[]))
  AND user_id NOT IN (SELECT unnest(getvariable('forget_pseudonyms')::VARCHAR[]))
ORDER BY event_id;
