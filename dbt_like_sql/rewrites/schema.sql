-- The rewrite table mined for each day from the trailing window of signals.markov_transitions.
CREATE SCHEMA IF NOT EXISTS rewrites;

CREATE TABLE IF NOT EXISTS rewrites.markov_rewrites (
    day                  DATE NOT NULL,      -- last day of the mining window: the partition
    rewrite_id           VARCHAR NOT NULL,   -- stable id: hex BLAKE2b (8-byte digest) of source_text, 0x1F, rewrite_text
    source_text          VARCHAR NOT NULL,   -- the failing utterance, normalised (the key the runtime matches)
    rewrite_text         VARCHAR NOT NULL,   -- the normalised utterance to run instead
    source_success_prob  DOUBLE,             -- P(source_text succeeds as said): share of its window transitions straight to __SUCCESS__
    rewrite_success_prob DOUBLE,             -- P(the chain ends in success from rewrite_text): absorption probability
    confidence           DOUBLE,             -- P(rewrite's success rate > source's) under their Beta posteriors, 0..1
    support_users        BIGINT,             -- distinct users on the path's weakest edge (hops 0: who said the source)
    support_sessions     BIGINT,             -- sessions on the path's weakest edge (hops 0: times the source was said)
    support_transitions  BIGINT,             -- transitions on the path's weakest edge (hops 0: times the source was said)
    target_users         BIGINT,             -- distinct users who said rewrite_text in the window
    hops                 BIGINT,             -- reformulations from source to rewrite (1..max_hops), 0: a sound-alike neighbour
    origin               VARCHAR NOT NULL,   -- mined (this window) | deployed (a live rewrite the self-aware rule kept: row carried over as exported)
    meaning_score        DOUBLE,             -- how well the rewrite keeps the source's meaning, 0..1 (lib/markov/meaning.py)
    gold_turns           BIGINT,             -- audit gold turns of the window that said the source (0: none)
    gold_right           BIGINT,             -- gold_turns whose intended request the rewrite expresses
    "precision"          DOUBLE              -- calibrated precision on audit gold, shrunk toward its stratum (NULL: no gold in the window)
);
-- Warehouses made before the meaning and precision gates get their columns.
ALTER TABLE rewrites.markov_rewrites ADD COLUMN IF NOT EXISTS meaning_score DOUBLE;
ALTER TABLE rewrites.markov_rewrites ADD COLUMN IF NOT EXISTS gold_turns BIGINT;
ALTER TABLE rewrites.markov_rewrites ADD COLUMN IF NOT EXISTS gold_right BIGINT;
ALTER TABLE rewrites.markov_rewrites ADD COLUMN IF NOT EXISTS "precision" DOUBLE;

-- How each day's table was mined: the window, the parameters and the miner's report.
CREATE TABLE IF NOT EXISTS rewrites.mining_reports (
    day                    DATE PRIMARY KEY,   -- last day of the window: the markov_rewrites partition it describes
    window_start           DATE NOT NULL,      -- first day of the window (day - window_days + 1)
    days_with_data         INTEGER NOT NULL,   -- days of the window with markov_transitions rows (blocked days left out)
    deployed_from          VARCHAR,            -- path of the newest earlier rewrite export: the live table the self-aware rule judged (NULL: none)
    report                 JSON NOT NULL       -- the miner's report: counts, timings, rejections per reason, parameters, precision strata, blocked days
);
