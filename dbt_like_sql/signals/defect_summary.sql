-- Share of the day's turns on which each signal fired, and the defect rate, for the run report.
SELECT
    count(*) AS turns,
    avg(defect_prob) AS mean_defect_prob,
    avg((defect_prob >= 0.5)::INTEGER) AS defect_rate_at_half,
    avg(coalesce(barge_in, false)::INTEGER) AS barge_in,
    avg(coalesce(response_error, false)::INTEGER) AS response_error,
    avg(coalesce(response_unsupported, false)::INTEGER) AS response_unsupported,
    avg(coalesce(response_no_response, false)::INTEGER) AS response_no_response,
    avg(coalesce(response_clarify, false)::INTEGER) AS response_clarify,
    avg(explicit_negative::INTEGER) AS explicit_negative,
    avg(explicit_positive::INTEGER) AS explicit_positive,
    avg(coalesce(abandoned, false)::INTEGER) AS abandoned,
    avg(followed_by_similar::INTEGER) AS followed_by_similar,
    avg(coalesce(low_asr_confidence, false)::INTEGER) AS low_asr_confidence,
    avg(coalesce(low_nlu_confidence, false)::INTEGER) AS low_nlu_confidence,
    avg(coalesce(low_wake_score, false)::INTEGER) AS low_wake_score,
    avg(coalesce(er_unresolved, false)::INTEGER) AS er_unresolved
FROM signals.defect_signals
WHERE day = $day
