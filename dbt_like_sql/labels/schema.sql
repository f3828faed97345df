-- Machine-generated labels for every turn of a day, by the champion label-generation model.
CREATE SCHEMA IF NOT EXISTS labels;

CREATE TABLE IF NOT EXISTS labels.turn_labels (
    day                     DATE NOT NULL,
    event_id                VARCHAR NOT NULL,
    session_id              VARCHAR NOT NULL,
    goal_id                 INTEGER NOT NULL,   -- 1-based goal counter within the session
    goal_start              BOOLEAN NOT NULL,
    goal_start_confidence   DOUBLE NOT NULL,
    goal_success            BOOLEAN NOT NULL,
    goal_success_confidence DOUBLE NOT NULL,
    intent                  VARCHAR NOT NULL,   -- "domain.intent"
    intent_confidence       DOUBLE NOT NULL,
    slots                   STRUCT(name VARCHAR, value VARCHAR)[],
    slots_confidence        DOUBLE NOT NULL,
    model_version           VARCHAR NOT NULL    -- MLflow registry version of selflearn-label-model
);

-- The failure point of every turn of a day, by the champion failure-point isolation model: the first component
-- that failed irrecoverably (false_wake, asr, nlu, er, result) or correct, with the class probabilities.
CREATE TABLE IF NOT EXISTS labels.failure_points (
    day                      DATE NOT NULL,
    event_id                 VARCHAR NOT NULL,
    session_id               VARCHAR NOT NULL,
    failure_point            VARCHAR NOT NULL,   -- false_wake | asr | nlu | er | result | correct
    failure_point_confidence DOUBLE NOT NULL,    -- probability of the chosen class
    p_false_wake             DOUBLE NOT NULL,
    p_asr                    DOUBLE NOT NULL,
    p_nlu                    DOUBLE NOT NULL,
    p_er                     DOUBLE NOT NULL,
    p_result                 DOUBLE NOT NULL,
    p_correct                DOUBLE NOT NULL,
    model_version            VARCHAR NOT NULL    -- MLflow registry version of selflearn-failure-point-model
);
