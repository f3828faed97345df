-- Of the texts getvariable('forget_texts') (VARCHAR[]: a forgotten customer's requests and the responses to
-- them, as the encoder embeds them: NULL as ''), those a clean turn the warehouse still holds has: another
-- customer said them, so their embeddings stay in the store.
SELECT DISTINCT text
FROM (
    SELECT coalesce(asr_text, '') AS text FROM ingest.clean_turns
    UNION ALL
    SELECT coalesce(response_text, '') FROM ingest.clean_turns
)
WHERE text IN (SELECT unnest(getvariable('forget_texts')::VARCHAR[]))
ORDER BY text;
