-- Gold and single-annotator labels of the label model's tasks for the annotated turns of the given days (the
-- annotation pivot ingest.turn_annotations).
SELECT day, event_id,
    gold_goal_start, gold_goal_success, gold_intent, gold_slots,
    ann_goal_start, ann_goal_success, ann_intent, ann_slots
FROM ingest.turn_annotations
WHERE list_contains($days::DATE[], day);
