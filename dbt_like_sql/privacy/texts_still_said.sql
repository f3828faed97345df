-- Of the texts getvariable('forget_texts') (VARCHAR[]: a forgotten customer's requests and the responses to
-- them, as the encoder embeds them: NULL as ''), those a clean turn the warehouse still holds has: another
-- customer said them, so their embeddings stay in the store. The customer's own turns are left out by their
-- pseudonyms (getvariable('forget_pseudonyms')): in the lake they are still there when this runs.
SELECT DISTINCT text
FROM (
    SELECT coalesce(asr_text, '') AS text, user_id FROM ingest.clean_turns
    UNION ALL
    SELECT coalesce(response_text, ''), user_id FROM ingest.clean_turns
)
WHERE text IN (SELECT unnest(getvariable('forget_texts')::VARCHAR[]))
  AND user_id NOT IN (SELECT unnest(getvariable('forget_pseudonyms')::VARCHAR[]))
ORDER BY text;
