-- Distinct non-empty normalised utterances of the day (their phonetic keys are computed in polars).
SELECT DISTINCT norm_text
FROM signals.defect_signals
WHERE day = $day AND norm_text <> ''
