-- A labelled day's summary for turn_labels' metadata: per intent, its turns and the day's goal success rate
-- (the same on every row), most frequent intents first.
SELECT
    intent,
    count(*) AS turns,
    sum(sum(goal_success::INTEGER)) OVER () / sum(count(*)) OVER () AS goal_success_rate
FROM labels.turn_labels
WHERE day = $day
GROUP BY intent
ORDER BY turns DESC, intent;
