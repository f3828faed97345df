-- Label releases: per day, the released labels (a label under its threshold, or withheld for the day, is
-- NULL), the quality measured on the gold audit holdout per label and whether it was released, and how the
-- release was built (parameters, audit set, accounting).
CREATE SCHEMA IF NOT EXISTS releases;

-- One row per clean turn of the day. A label whose confidence is under its release threshold is NULL, and a
-- label withheld for the day is NULL on every turn; the confidences are kept so a consumer may apply a
-- stricter threshold.
CREATE TABLE IF NOT EXISTS releases.label_release (
    day                         DATE NOT NULL,      -- UTC date of the turns: the partition
    event_id                    VARCHAR NOT NULL,   -- the clean turn (ingest.clean_turns), one row each
    session_id                  VARCHAR NOT NULL,   -- its dialogue session
    goal_id                     INTEGER,            -- goal counter of the model's segmentation, never thresholded (NULL: no turn_labels row)
    goal_start                  BOOLEAN,            -- the turn starts a new goal (NULL: under threshold, withheld, or no label)
    goal_start_confidence       DOUBLE,             -- the model's confidence in its goal_start, 0.5..1, kept under threshold (NULL: no turn_labels row)
    goal_success                BOOLEAN,            -- the turn's goal was achieved (NULL: under threshold, withheld, or no label)
    goal_success_confidence     DOUBLE,             -- the model's confidence in its goal_success, 0.5..1, kept under threshold (NULL: no turn_labels row)
    intent                      VARCHAR,            -- "domain.intent" (NULL: under threshold, withheld, or no label)
    intent_confidence           DOUBLE,             -- the model's probability of its intent, kept under threshold (NULL: no turn_labels row)
    slots                       STRUCT(name VARCHAR, value VARCHAR)[],  -- the request's {name, value} arguments (NULL: under threshold, withheld, or no label)
    slots_confidence            DOUBLE,             -- the model's least sure slot decision, 0.5..1, kept under threshold (NULL: no turn_labels row)
    failure_point               VARCHAR,            -- false_wake | asr | nlu | er | result | correct (NULL: under threshold, withheld, or no row)
    failure_point_confidence    DOUBLE,             -- the model's probability of its failure point, kept under threshold (NULL: no failure_points row)
    label_model_version         VARCHAR,            -- selflearn-label-model version that labelled the turn (NULL: the turn has no turn_labels row)
    failure_point_model_version VARCHAR             -- selflearn-failure-point-model version that labelled it (NULL: the turn has no failure_points row)
);

-- Per day and label: the threshold, the precision target and what was measured at the threshold, and the check
-- of the gold it was measured on.
CREATE TABLE IF NOT EXISTS releases.release_quality (
    day                 DATE NOT NULL,      -- the release's day: the label_release partition
    label               VARCHAR NOT NULL,   -- goal_start | goal_success | intent | slots | failure_point
    threshold           DOUBLE,             -- lowest confidence whose precision reaches target on >= min_support audit turns (NULL: none)
    target              DOUBLE,             -- precision to reach, at least precision_floor (NULL: annotator target without annotator labels)
    target_source       VARCHAR NOT NULL,   -- annotator | fixed | floor (the annotator's or fixed target was under the floor)
    annotator_precision DOUBLE,             -- the single annotator's accuracy against gold on the annotator_turns (NULL: none)
    annotator_turns     INTEGER NOT NULL,   -- audit turns with the label's gold, model and single-annotator values
    precision           DOUBLE,             -- model precision against gold among audit turns at/over threshold (NULL: no threshold)
    precision_low       DOUBLE,             -- 95% Wilson lower bound of precision
    audit_turns         INTEGER NOT NULL,   -- audit (gold holdout) turns with the label's gold and model values
    audit_released      INTEGER NOT NULL,   -- audit_turns at/over threshold
    coverage_audit      DOUBLE NOT NULL,    -- audit_released / audit_turns (0: no threshold)
    coverage_day        DOUBLE NOT NULL,    -- share of the day's clean turns at/over threshold, whether released or withheld
    model_accuracy      DOUBLE,             -- model accuracy, no threshold, on the annotator_turns
    pct_of_human        DOUBLE,             -- model_accuracy / annotator_precision (1: on par with a single annotator)
    drift               DOUBLE,             -- total variation distance of the released values to the previous release's, 0..1 (NULL: none)
    drift_against       DATE,               -- day of that previous published release (NULL: none)
    status              VARCHAR NOT NULL DEFAULT 'released',  -- released | withheld (NULL on every turn of the day)
    reason              VARCHAR,            -- why the label is withheld (NULL: released)
    -- cross-fitting (split = 'A/B'): threshold, precision, audit_* and coverage_audit are on half A of the
    -- audit sessions (where the threshold was chosen), these on half B (not used to choose it)
    split                 VARCHAR NOT NULL DEFAULT 'none',  -- none (chosen and measured on the whole audit set) | A/B
    precision_heldout     DOUBLE,           -- precision at the threshold on half B (NULL: not cross-fitted, or none released there)
    precision_heldout_low DOUBLE,           -- 95% Wilson lower bound of precision_heldout
    heldout_turns         INTEGER,          -- half-B audit turns with the label's gold and model values (NULL: not cross-fitted)
    heldout_released      INTEGER,          -- heldout_turns at/over threshold (NULL: not cross-fitted)
    precision_floor       DOUBLE,           -- least target of the label, whatever the annotator's precision
    -- the gold check (lib/releases/gold.py): gold vs the single annotator on the audit turns with both labels,
    -- and the agreement recorded by the newest published release that judged the label (its baseline)
    gold_agreement          DOUBLE,         -- gold vs single annotator on the gold_turns: exact-match share (slots: mean Jaccard; NULL: no such turn)
    gold_turns              INTEGER,        -- audit turns with both a gold and a single-annotator value of the label
    gold_agreement_previous DOUBLE,         -- the baseline: gold_agreement of the newest published release that judged it (NULL: none)
    gold_previous_day       DATE            -- day of the release that recorded gold_agreement_previous (NULL: none)
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
    day                         DATE PRIMARY KEY,   -- the release's day: the label_release partition
    params                      JSON NOT NULL,      -- the run config of label_release
    audit_source                VARCHAR NOT NULL,   -- day (its own gold holdout turns) | window (under audit_min_turns: the trailing audit_window_days)
    audit_days                  DATE[] NOT NULL,    -- the days whose gold holdout turns make the audit set
    audit_turns                 INTEGER NOT NULL,   -- gold holdout turns used
    clean_turns                 BIGINT NOT NULL,    -- clean turns of the day = rows of label_release
    turns_without_labels        BIGINT NOT NULL,    -- clean turns without a turn_labels row
    turns_without_failure_point BIGINT NOT NULL,    -- clean turns without a failure_points row
    previous_release            VARCHAR,            -- folder of the release drift was measured against (NULL: none readable)
    built_at                    TIMESTAMP NOT NULL  -- when the release was built, UTC, naive
);
