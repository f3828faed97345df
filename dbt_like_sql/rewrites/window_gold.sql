-- Audit gold of the window [$window_start, $day] that the miner's precision gate reads: per gold-annotated
-- turn, its normalised text (src), the gold intended text, intent and slots (as a canonical
-- "name=value;..." key, lowercased and sorted, like evaluation/gold_turns.sql).
WITH gold AS (
    SELECT event_id,
           max(CASE WHEN task = 'intended_text' THEN json_extract_string(label, '$') END) AS intended_text,
           max(CASE WHEN task = 'intent' THEN json_extract_string(label, '$') END) AS gold_intent,
           max(CASE WHEN task = 'slots' THEN label::VARCHAR END) AS slots
    FROM ingest.annotations
    WHERE day BETWEEN $window_start AND $day AND is_gold
      AND NOT list_contains(coalesce(getvariable('blocked_days'), []::DATE[]), day)  -- blocked days left out
    GROUP BY event_id
)
SELECT s.norm_text AS src, g.intended_text, g.gold_intent,
       array_to_string(list_sort(list_transform(
           coalesce(json_extract(g.slots::JSON, '$[*]'), []::JSON[]),
           lambda x: lower(x ->> 'name') || '=' || lower(x ->> 'value'))), ';') AS gold_slots
FROM gold AS g
JOIN signals.defect_signals AS s ON s.event_id = g.event_id AND s.day BETWEEN $window_start AND $day
    AND NOT list_contains(coalesce(getvariable('blocked_days'), []::DATE[]), s.day)
WHERE s.norm_text <> '' AND (g.intended_text IS NOT NULL OR g.gold_intent IS NOT NULL);
