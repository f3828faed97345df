-- The rewrite table mined for each day from the trailing window of signals.markov_transitions.
CREATE SCHEMA IF NOT EXISTS rewrites;

CREATE TABLE IF NOT EXISTS rewrites.markov_rewrites (
    day                  DATE NOT NULL,      -- last day of the window
    rewrite_id           VARCHAR NOT NULL,
    source_text          VARCHAR NOT NULL,
    rewrite_text         VARCHAR NOT NULL,
    source_success_prob  DOUBLE,
    rewrite_success_prob DOUBLE,
    confidence           DOUBLE,
    support_users        BIGINT,
    support_sessions     BIGINT,
    support_transitions  BIGINT,
    target_users         BIGINT,
    hops                 BIGINT,
    origin               VARCHAR NOT NULL,   -- mined | deployed (kept by the self-aware rule)
    meaning_score        DOUBLE,             -- how well the rewrite keeps the source's meaning
    gold_turns           BIGINT,             -- audit gold turns of the window that said the source
    gold_right           BIGINT,             -- ... whose intended request the rewrite expresses
    "precision"          DOUBLE              -- calibrated precision on audit gold (null: no gold)
);
-- Warehouses made before the meaning and precision gates get their columns.
ALTER TABLE rewrites.markov_rewrites ADD COLUMN IF NOT EXISTS meaning_score DOUBLE;
ALTER TABLE rewrites.markov_rewrites ADD COLUMN IF NOT EXISTS gold_turns BIGINT;
ALTER TABLE rewrites.markov_rewrites ADD COLUMN IF NOT EXISTS gold_right BIGINT;
ALTER TABLE rewrites.markov_rewrites ADD COLUMN IF NOT EXISTS "precision" DOUBLE;

-- How each day's table was mined: the window, the parameters and the miner's report.
CREATE TABLE IF NOT EXISTS rewrites.mining_reports (
    day                    DATE PRIMARY KEY,
    window_start           DATE NOT NULL,
    days_with_data         INTEGER NOT NULL,
    deployed_from          VARCHAR,
    report                 JSON NOT NULL
);
