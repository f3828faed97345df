-- The rows of signals.defect_signals for one day (published as the day's lake partition by
-- lib/signals/store.py): the features of _signals_defect_features combined by the logistic model
-- defect_prob = sigmoid(bias + sum_i w_i * signal_i), a NULL signal counting as 0.
SELECT
    f.*,
    1.0 / (1.0 + exp(-(
        $bias
        + $w_barge_in * coalesce(f.barge_in, false)::INTEGER
        + $w_response_error * coalesce(f.response_error, false)::INTEGER
        + $w_response_unsupported * coalesce(f.response_unsupported, false)::INTEGER
        + $w_response_no_response * coalesce(f.response_no_response, false)::INTEGER
        + $w_response_clarify * coalesce(f.response_clarify, false)::INTEGER
        + $w_explicit_negative * f.explicit_negative::INTEGER
        + $w_explicit_positive * f.explicit_positive::INTEGER
        + $w_abandoned * coalesce(f.abandoned, false)::INTEGER
        + $w_followed_by_similar * f.followed_by_similar::INTEGER
        + $w_low_asr_confidence * coalesce(f.low_asr_confidence, false)::INTEGER
        + $w_low_nlu_confidence * coalesce(f.low_nlu_confidence, false)::INTEGER
        + $w_low_wake_score * coalesce(f.low_wake_score, false)::INTEGER
        + $w_er_unresolved * coalesce(f.er_unresolved, false)::INTEGER
    ))) AS defect_prob,
    $model_day::DATE AS defect_model_day
FROM _signals_defect_features AS f
