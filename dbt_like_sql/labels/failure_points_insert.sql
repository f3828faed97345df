INSERT INTO labels.failure_points
SELECT $day::DATE, event_id, session_id, failure_point, failure_point_confidence,
       p_false_wake, p_asr, p_nlu, p_er, p_result, p_correct, $model_version
FROM _failure_points;
