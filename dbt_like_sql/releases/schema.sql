-- Label releases: per day, the released labels (a label under its threshold, or withheld for the day, is
-- NULL), the quality measured on the gold audit holdout per label and whether it was released, and how the
-- release was built (parameters, audit set, accounting).
CREATE SCHEMA IF NOT EXISTS releases;

-- One row per clean turn of the day. A label whose confidence is under its release threshold is NULL, and a
-- label withheld for the day is NULL on every turn; the confidences are kept so a consumer may apply a
-- stricter threshold.
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

-- Per day and label: the threshold, the precision target and what was measured at the threshold, and the check
-- of the gold it was measured on.
CREATE TABLE IF NOT EXISTS releases.release_quality (
    day                 DATE NOT NULL,
    label               VARCHAR NOT NULL,   -- goal_start | goal_success | intent | slots | failure_point
    threshold           DOUBLE,             -- NULL: no threshold reaches the target
    target              DOUBLE,             -- precision to reach (NULL: annotator target without annotator labels)
    target_source       VARCHAR NOT NULL,   -- annotator | fixed | floor (that target was under the floor)
    annotator_precision DOUBLE,             -- the single annotator's accuracy against gold on the audit turns
    annotator_turns     INTEGER NOT NULL,
    precision           DOUBLE,             -- model precision against gold among audit turns at/over threshold
    precision_low       DOUBLE,             -- its 95% Wilson lower bound
    audit_turns         INTEGER NOT NULL,   -- gold holdout turns with a model label
    audit_released      INTEGER NOT NULL,   -- of which at/over threshold
    coverage_audit      DOUBLE NOT NULL,    -- audit_released / audit_turns
    coverage_day        DOUBLE NOT NULL,    -- share of the day's turns at/over threshold (released unless withheld)
    model_accuracy      DOUBLE,             -- model accuracy, no threshold, on the turns the annotator labelled
    pct_of_human        DOUBLE,             -- model_accuracy / annotator_precision
    drift               DOUBLE,             -- total variation distance to the previous published release
    drift_against       DATE,               -- day of that release (NULL: none)
    status              VARCHAR NOT NULL DEFAULT 'released',  -- released | withheld (NULL on every turn)
    reason              VARCHAR,            -- why the label is withheld
    -- cross-fitting (split = 'A/B'): threshold, precision, audit_* and coverage_audit are on half A of the
    -- audit sessions (where the threshold was chosen), these on half B (not used to choose it)
    split                 VARCHAR NOT NULL DEFAULT 'none',  -- none | A/B
    precision_heldout     DOUBLE,
    precision_heldout_low DOUBLE,           -- its 95% Wilson lower bound
    heldout_turns         INTEGER,
    heldout_released      INTEGER,
    precision_floor       DOUBLE,           -- least target of the label, whatever the annotator's precision
    -- the gold check (lib/releases/gold.py): gold vs the single annotator on the audit turns with both labels,
    -- and the agreement recorded by the newest published release that judged the label (its baseline)
    gold_agreement          DOUBLE,
    gold_turns              INTEGER,
    gold_agreement_previous DOUBLE,
    gold_previous_day       DATE
);
-- Tables made before labels could be withheld.
ALTER TABLE releases.release_quality ADD COLUMN IF NOT EXISTS status VARCHAR DEFAULT 'released';
ALTER TABLE releases.release_quality ADD COLUMN IF NOT EXISTS reason VARCHAR;
ALTER TABLE releases.release_quality ADD COLUMN IF NOT EXISTS split VARCHAR DEFAULT 'none';
ALTER TABLE releases.release_quality ADD COLUMN IF NOT EXISTS precision_heldout DOUBLE;
ALTER TABLE releases.release_quality ADD COLUMN IF NOT EXISTS precision_heldout_low DOUBLE;
ALTER TABLE releases.release_quality ADD COLUMN IF NOT EXISTS heldout_turns INTEGER;
ALTER TABLE releases.release_quality ADD COLUMN IF NOT EXISTS heldout_released INTEGER;
ALTER TABLE releases.release_quality ADD COLUMN IF NOT EXISTS precision_floor DOUBLE;
ALTER TABLE releases.release_quality ADD COLUMN IF NOT EXISTS gold_agreement DOUBLE;
ALTER TABLE releases.release_quality ADD COLUMN IF NOT EXISTS gold_turns INTEGER;
ALTER TABLE releases.release_quality ADD COLUMN IF NOT EXISTS gold_agreement_previous DOUBLE;
ALTER TABLE releases.release_quality ADD COLUMN IF NOT EXISTS gold_previous_day DATE;

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
