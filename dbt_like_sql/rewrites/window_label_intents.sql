-- The label model's reading of each normalised utterance of the window [$window_start, $day]: the intent
-- it gives most of the utterance's turns, that intent's share and the labelled turns behind it.
WITH labelled AS (
    SELECT s.norm_text, l.intent
    FROM labels.turn_labels AS l
    JOIN signals.defect_signals AS s ON s.event_id = l.event_id AND s.day = l.day
    WHERE l.day BETWEEN $window_start AND $day AND s.norm_text <> ''
      AND NOT list_contains(coalesce(getvariable('blocked_days'), []::DATE[]), l.day)  -- blocked days left out
),
counted AS (
    SELECT norm_text, intent, count(*) AS n
    FROM labelled
    GROUP BY norm_text, intent
)
SELECT norm_text, intent,
       n::DOUBLE / sum(n) OVER (PARTITION BY norm_text) AS share,
       sum(n) OVER (PARTITION BY norm_text) AS turns
FROM counted
QUALIFY row_number() OVER (PARTITION BY norm_text ORDER BY n DESC, intent) = 1;
