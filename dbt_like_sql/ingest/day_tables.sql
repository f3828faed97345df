-- The temp tables one day of ingest.clean_turns and ingest.quarantined_turns is built in
-- (lib/ingest/store.py: the stage's SQL inserts, moves and counts there; the rows are then published as the
-- day's lake partitions). Empty, with the columns and types of the warehouse's views; store.stage_day adds
-- the NOT NULLs.
CREATE OR REPLACE TEMP TABLE day_clean_turns AS SELECT * FROM ingest.clean_turns LIMIT 0;
CREATE OR REPLACE TEMP TABLE day_quarantined_turns AS SELECT * FROM ingest.quarantined_turns LIMIT 0;
