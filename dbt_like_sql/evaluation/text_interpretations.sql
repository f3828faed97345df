-- How the assistant interprets each normalised utterance when it works: over the window
-- [$window_start, $window_end], the most frequent (intent, slots) among its successful turns
-- (defect_prob < 0.5). The offline rewrite evaluation reads a rewrite's meaning from here.
WITH ok AS (
    SELECT s.norm_text,
           t.nlu_domain || '.' || t.nlu_intent AS intent,
           array_to_string(list_sort(list_transform(coalesce(t.nlu_slots, []),
               lambda x: lower(x.name) || '=' || lower(x.value))), ';') AS slots
    FROM signals.defect_signals s
    JOIN ingest.clean_turns t ON t.event_id = s.event_id AND t.day = s.day
    WHERE s.day BETWEEN $window_start AND $window_end
      AND NOT list_contains(coalesce(getvariable('blocked_days'), []::DATE[]), s.day)  -- blocked days left out
      AND s.defect_prob < 0.5 AND t.nlu_intent IS NOT NULL
),
counted AS (
    SELECT norm_text, intent, slots, count(*) AS n,
           row_number() OVER (PARTITION BY norm_text ORDER BY count(*) DESC, intent, slots) AS rank
    FROM ok
    GROUP BY norm_text, intent, slots
)
SELECT norm_text, intent, slots, n
FROM counted
WHERE rank = 1;
