-- Which ingested days downstream stages may read. The blocking ingestion gates (asset checks on clean_turns)
-- record their latest outcome per day in ingest.day_gates; a day is readable when every gate has a passing
-- record checked after the day's latest ingestion (partition_stats.ingested_at). A day whose gate failed, or
-- has not run since the day was (re-)ingested, is blocked: its partition assets fail, and windows leave it
-- out. Run after ingest/schema.sql (the views read ingest.partition_stats).

-- The blocking ingestion gates: the asset checks on clean_turns that a readable day has passed.
CREATE OR REPLACE VIEW ingest.ingestion_gates AS
SELECT * FROM (VALUES ('clean_turns_expectations'), ('ingest_accounting')) AS g(check_name);

-- The latest outcome of each gate on each day (replaced by every evaluation).
CREATE TABLE IF NOT EXISTS ingest.day_gates (
    day         DATE NOT NULL,
    check_name  VARCHAR NOT NULL,
    passed      BOOLEAN NOT NULL,
    description VARCHAR NOT NULL,   -- the check's own description (what failed, the rate and the limit)
    checked_at  TIMESTAMP NOT NULL, -- UTC, naive, like partition_stats.ingested_at
    PRIMARY KEY (day, check_name)
);

-- One row per ingested day: readable or not, and why not.
CREATE OR REPLACE VIEW ingest.day_status AS
WITH per_gate AS (
    SELECT
        s.day, g.check_name, d.description,
        CASE WHEN d.checked_at IS NULL OR d.checked_at <= s.ingested_at THEN 'not_checked'
             WHEN d.passed THEN 'passed'
             ELSE 'failed' END AS state
    FROM ingest.partition_stats AS s
    CROSS JOIN ingest.ingestion_gates AS g
    LEFT JOIN ingest.day_gates AS d ON d.day = s.day AND d.check_name = g.check_name
)
SELECT
    day,
    bool_and(state = 'passed') AS readable,
    string_agg(
        CASE state
            WHEN 'failed' THEN 'ingestion gate ' || check_name || ' failed (' || description || ')'
            WHEN 'not_checked' THEN 'ingestion gate ' || check_name || ' has not passed since the day was ingested'
        END,
        '; ' ORDER BY check_name) AS reason   -- NULL on a readable day
FROM per_gate
GROUP BY day;

CREATE OR REPLACE VIEW ingest.readable_days AS SELECT day FROM ingest.day_status WHERE readable;
