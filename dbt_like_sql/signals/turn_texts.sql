-- The day's turns' ASR text, to be normalised (with the Markov solver's normalisation) in polars.
SELECT event_id, asr_text
FROM ingest.clean_turns
WHERE day = $day
