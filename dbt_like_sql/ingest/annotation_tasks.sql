-- The day's annotations per task: how many gold labels and how many single-annotator labels (the annotations
-- asset's summary).
SELECT task, count(*) FILTER (WHERE is_gold) AS gold, count(*) FILTER (WHERE NOT is_gold) AS single_annotator
FROM ingest.annotations
WHERE day = $day
GROUP BY task
ORDER BY task;
