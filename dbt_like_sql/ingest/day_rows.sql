-- The day's rows in ingest.clean_turns (the clean_turns_expectations check's `rows`).
SELECT count(*) FROM ingest.clean_turns WHERE day = $day;
