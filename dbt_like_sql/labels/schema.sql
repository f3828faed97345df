-- Machine-generated labels for every turn of a day, by the champion label-generation model.
CREATE SCHEMA IF NOT EXISTS labels;

CREATE TABLE IF NOT EXISTS labels.turn_labels (
    day                     DATE NOT NULL,      -- UTC date of the turn: the partition
    event_id                VARCHAR NOT NULL,   -- the clean turn (ingest.clean_turns), one row each
    session_id              VARCHAR NOT NULL,   -- its dialogue session
    goal_id                 INTEGER NOT NULL,   -- 1-based goal counter within the session's turns of the day (from goal_start)
    goal_start              BOOLEAN NOT NULL,   -- the turn starts a new goal (always true on the session's first turn of the day)
    goal_start_confidence   DOUBLE NOT NULL,    -- probability of the chosen answer, 0.5..1 (1 on the session's first turn)
    goal_success            BOOLEAN NOT NULL,   -- the goal this turn belongs to was achieved (probability >= 0.5)
    goal_success_confidence DOUBLE NOT NULL,    -- probability of the chosen answer, 0.5..1
    intent                  VARCHAR NOT NULL,   -- the most probable "domain.intent" of the model's intent classes
    intent_confidence       DOUBLE NOT NULL,    -- the model's probability of that intent, 0..1
    slots                   STRUCT(name VARCHAR, value VARCHAR)[],  -- per slot name, its best value if that reaches the model's slot threshold; sorted by name ([]: none)
    slots_confidence        DOUBLE NOT NULL,    -- the least sure slot decision of the turn, 0.5..1 (1: no slot candidates)
    model_version           VARCHAR NOT NULL    -- MLflow registry version of selflearn-label-model (the champion that labelled the day)
);

-- The failure point of every turn of a day, by the champion failure-point isolation model: the first component
-- that failed irrecoverably (false_wake, asr, nlu, er, result) or correct, with the class probabilities.
CREATE TABLE IF NOT EXISTS labels.failure_points (
    day                      DATE NOT NULL,      -- UTC date of the turn: the partition
    event_id                 VARCHAR NOT NULL,   -- the clean turn (ingest.clean_turns), one row each
    session_id               VARCHAR NOT NULL,   -- its dialogue session
    failure_point            VARCHAR NOT NULL,   -- the most probable class: false_wake | asr | nlu | er | result | correct
    failure_point_confidence DOUBLE NOT NULL,    -- probability of the chosen class (the largest p_*)
    p_false_wake             DOUBLE NOT NULL,    -- P(false wake: the device woke on speech not meant for it); the six p_* sum to 1
    p_asr                    DOUBLE NOT NULL,    -- P(speech recognition failed first)
    p_nlu                    DOUBLE NOT NULL,    -- P(language understanding (domain, intent or slots) failed first)
    p_er                     DOUBLE NOT NULL,    -- P(entity resolution failed first)
    p_result                 DOUBLE NOT NULL,    -- P(result: heard, understood and resolved, yet the response did not serve the user)
    p_correct                DOUBLE NOT NULL,    -- P(nothing failed irrecoverably)
    model_version            VARCHAR NOT NULL    -- MLflow registry version of selflearn-failure-point-model (the champion)
);
