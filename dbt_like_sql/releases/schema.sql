-- Label releases: per day, the released labels (a label under its threshold is NULL), the quality measured
-- on the gold audit holdout per label, and how the release was built (parameters, audit set, accounting).
CREATE SCHEMA IF NOT EXISTS releases;

-- One row per clean turn of the day. A label whose confidence is under its release threshold is NULL; the
-- confidences are kept so a consumer may apply a stricter threshold.
CREATE TABLE IF NOT EXISTS releases.label_release (
    day                         DATE NOT NULL,
    event_id                    VARCHAR NOT NULL,
    session_id                  VARCHAR NOT NULL,
    goal_id                     INTEGER,            -- the model's segmentation (NULL: turn without turn_labels)
    goal_start                  BOOLEAN,
    goal_start_confidence       DOUBLE,
    goal_success                BOOLEAN,
    goal_success_confidence     DOUBLE,
    intent                      VARCHAR,
    intent_confidence           DOUBLE,
    slots                       STRUCT(name VARCHAR, value VARCHAR)[],
    slots_confidence            DOUBLE,
    failure_point               VARCHAR,
    failure_point_confidence    DOUBLE,
    label_model_version         VARCHAR,            -- NULL: the turn has no turn_labels row
    failure_point_model_version VARCHAR             -- NULL: the turn has no failure_points row
);

-- Per day and label: the threshold, the precision target and what was measured at the threshold.
CREATE TABLE IF NOT EXISTS releases.release_quality (
    day                 DATE NOT NULL,
    label               VARCHAR NOT NULL,   -- goal_start | goal_success | intent | slots | failure_point
    threshold           DOUBLE,             -- NULL: no threshold reaches the target
    target              DOUBLE,             -- precision to reach (NULL: annotator target without annotator labels)
    target_source       VARCHAR NOT NULL,   -- annotator | fixed
    annotator_precision DOUBLE,             -- the single annotator's accuracy against gold on the audit turns
    annotator_turns     INTEGER NOT NULL,
    precision           DOUBLE,             -- model precision against gold among audit turns at/over threshold
    precision_low       DOUBLE,             -- its 95% Wilson lower bound
    audit_turns         INTEGER NOT NULL,   -- gold holdout turns with a model label
    audit_released      INTEGER NOT NULL,   -- of which at/over threshold
    coverage_audit      DOUBLE NOT NULL,    -- audit_released / audit_turns
    coverage_day        DOUBLE NOT NULL,    -- share of the day's turns released with this label
    model_accuracy      DOUBLE,             -- model accuracy, no threshold, on the turns the annotator labelled
    pct_of_human        DOUBLE,             -- model_accuracy / annotator_precision
    drift               DOUBLE,             -- total variation distance to the previous published release
    drift_against       DATE                -- day of that release (NULL: none)
);

-- Per day: how the release was built.
CREATE TABLE IF NOT EXISTS releases.release_builds (
    day                         DATE PRIMARY KEY,
    params                      JSON NOT NULL,      -- the run config of label_release
    audit_source                VARCHAR NOT NULL,   -- day | window
    audit_days                  DATE[] NOT NULL,
    audit_turns                 INTEGER NOT NULL,   -- gold holdout turns used
    clean_turns                 BIGINT NOT NULL,
    turns_without_labels        BIGINT NOT NULL,
    turns_without_failure_point BIGINT NOT NULL,
    previous_release            VARCHAR,            -- folder of the release drift was measured against
    built_at                    TIMESTAMP NOT NULL
);
