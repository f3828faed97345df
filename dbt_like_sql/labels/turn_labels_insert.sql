INSERT INTO labels.turn_labels
SELECT $day::DATE, event_id, session_id, goal_id, goal_start, goal_start_confidence, goal_success,
       goal_success_confidence, intent, intent_confidence, slots, slots_confidence, $model_version
FROM _turn_labels;
