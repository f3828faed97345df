-- The clean turns of the customer `selflearn forget-user` forgets (lib/privacy/warehouse.py): their event ids
-- (for the released label files) and the texts of each turn as the encoder embeds them (for the embedding
-- store). Input: getvariable('forget_pseudonyms'), the customer's pseudonyms (VARCHAR[], one per key);
-- unset: no turn.
SELECT day, event_id, coalesce(asr_text, '') AS asr_text, coalesce(response_text, '') AS response_text
FROM ingest.clean_turns
WHERE user_id IN (SELECT unnest(getvariable('forget_pseudonyms')::VARCHAR[]))
ORDER BY day, event_id;
