-- The locale each normalised utterance of the window [$window_start, $day] is said in (the most frequent
-- one), for the miner's phonetic matching; only utterances not in English (the miner's default).
SELECT s.norm_text, mode(coalesce(t.locale, 'en-US')) AS locale
FROM signals.defect_signals AS s
JOIN ingest.clean_turns AS t ON t.event_id = s.event_id AND t.day = s.day
WHERE s.day BETWEEN $window_start AND $day AND s.norm_text <> ''
  AND NOT list_contains(coalesce(getvariable('blocked_days'), []::DATE[]), s.day)  -- blocked days left out
GROUP BY s.norm_text
HAVING NOT starts_with(lower(mode(coalesce(t.locale, 'en-US'))), 'en');
