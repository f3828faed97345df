-- Audit gold of the window [$window_start, $day] that the miner's precision gate reads: per gold-annotated
-- turn (ingest.turn_annotations), its normalised text (src), the gold intended text, intent and slots (as a
-- canonical "name=value;..." key, lowercased and sorted, like evaluation/gold_turns.sql).
SELECT s.norm_text AS src, g.gold_intended_text AS intended_text, g.gold_intent,
       array_to_string(list_sort(list_transform(coalesce(g.gold_slots, []),
           lambda x: lower(x.name) || '=' || lower(x.value))), ';') AS gold_slots
FROM ingest.turn_annotations AS g
JOIN signals.defect_signals AS s ON s.day = g.day AND s.event_id = g.event_id
WHERE g.day BETWEEN $window_start AND $day
  AND NOT list_contains(coalesce(getvariable('blocked_days'), []::DATE[]), g.day)  -- blocked days left out
  AND s.norm_text <> '' AND (g.gold_intended_text IS NOT NULL OR g.gold_intent IS NOT NULL);
