-- Warehouse tables of the signals stage. Every table carries the partition column `day` (UTC date);
-- re-materializing a day deletes that day's rows and inserts the new ones in one transaction.
CREATE SCHEMA IF NOT EXISTS signals;

-- Text similarity on normalised utterances (lower case, single spaces), shared by the signal models.
-- Token Jaccard over the sets of space-separated tokens.
CREATE OR REPLACE MACRO signals.token_jaccard(a, b) AS (
    len(list_intersect(list_distinct(string_split(a, ' ')), list_distinct(string_split(b, ' '))))
    / greatest(len(list_distinct(list_concat(string_split(a, ' '), string_split(b, ' ')))), 1)
);
-- 1 - Levenshtein distance / length of the longer string.
CREATE OR REPLACE MACRO signals.edit_similarity(a, b) AS (
    1 - levenshtein(a, b) / greatest(length(a), length(b), 1)
);
-- The lexical similarity of "followed by a similar request": the larger of the two.
CREATE OR REPLACE MACRO signals.lexical_similarity(a, b) AS (
    greatest(signals.token_jaccard(a, b), signals.edit_similarity(a, b))
);

-- One row per turn of the day: every implicit and explicit defect signal, and the combined defect_prob.
-- A signal is NULL when the field it is read from is absent (the combination counts NULL as "did not fire").
CREATE TABLE IF NOT EXISTS signals.defect_signals (
    day                  DATE NOT NULL,
    event_id             VARCHAR NOT NULL,
    session_id           VARCHAR NOT NULL,
    user_id              VARCHAR NOT NULL,
    ts                   TIMESTAMP NOT NULL,
    turn_index           INTEGER NOT NULL,     -- 1-based position in the session (within the day), by ts
    norm_text            VARCHAR NOT NULL,     -- normalised asr_text ('' for no speech)
    response_status      VARCHAR,
    asr_confidence       DOUBLE,
    nlu_confidence       DOUBLE,
    wake_score           DOUBLE,
    next_gap_s           DOUBLE,               -- request start to the next request of the session; NULL if last
    barge_in             BOOLEAN,              -- the user interrupted the response
    response_error       BOOLEAN,              -- response_status = 'error'
    response_unsupported BOOLEAN,              -- response_status = 'unsupported'
    response_no_response BOOLEAN,              -- response_status = 'no_response'
    response_clarify     BOOLEAN,              -- response_status = 'clarify'
    explicit_negative    BOOLEAN NOT NULL,     -- explicit_feedback = 'negative'
    explicit_positive    BOOLEAN NOT NULL,     -- explicit_feedback = 'positive'
    abandoned            BOOLEAN,              -- non-success response, then no request of the session within abandon_gap_s
    followed_by_similar  BOOLEAN NOT NULL,     -- a lexically similar request of the session follows within similar_gap_s
    low_asr_confidence   BOOLEAN,              -- asr_confidence < low_asr_confidence
    low_nlu_confidence   BOOLEAN,              -- nlu_confidence < low_nlu_confidence
    low_wake_score       BOOLEAN,              -- wake_score < low_wake_score (false-wake cue)
    er_unresolved        BOOLEAN,              -- er_status = 'unresolved'
    defect_prob          DOUBLE NOT NULL,      -- sigmoid(bias + sum of weights of the signals that fired)
    defect_model_day     DATE                  -- day of the signals.defect_model row used; NULL = default prior
);

-- The defect combination fitted on gold annotations, one row per day that had enough gold in its window.
-- Days without a fit use the row with the latest day before them (or the documented default prior).
CREATE TABLE IF NOT EXISTS signals.defect_model (
    day            DATE NOT NULL,              -- the partition whose run fitted it
    fitted_on_days DATE[] NOT NULL,            -- days whose gold turns it was fitted on
    weights        JSON NOT NULL,              -- {"bias": b, "<signal>": w, ...}
    metrics        JSON NOT NULL,              -- calibration report: before/after Brier, ECE, AUC, reliability
    created_at     TIMESTAMP NOT NULL
);

-- Pairs (turn, later turn) of one session within a time gap and a turn distance, with rephrase features.
CREATE TABLE IF NOT EXISTS signals.rephrase_candidates (
    day                    DATE NOT NULL,
    session_id             VARCHAR NOT NULL,
    user_id                VARCHAR NOT NULL,
    first_event_id         VARCHAR NOT NULL,
    second_event_id        VARCHAR NOT NULL,   -- the later turn: the candidate rephrase of the first
    first_text             VARCHAR NOT NULL,   -- asr_text
    second_text            VARCHAR NOT NULL,
    time_gap_s             DOUBLE NOT NULL,    -- between the two request starts
    turn_distance          INTEGER NOT NULL,   -- 1 = the next turn
    token_jaccard          DOUBLE NOT NULL,
    edit_similarity        DOUBLE NOT NULL,    -- 1 - levenshtein / longer length, on normalised text
    jaro_winkler           DOUBLE NOT NULL,
    phonetic_similarity    DOUBLE NOT NULL,    -- edit similarity of the token-wise metaphone codes
    domain_changed         BOOLEAN,            -- NULL when neither turn has the field
    intent_changed         BOOLEAN,
    slots_changed          BOOLEAN,
    interpretation_changed BOOLEAN,            -- any of the three
    first_defect_prob      DOUBLE NOT NULL,
    second_defect_prob     DOUBLE NOT NULL,
    second_success         BOOLEAN,            -- response_status of the second = 'success'; NULL when absent
    heuristic_score        DOUBLE NOT NULL,    -- documented hand-set logistic in [0, 1]
    model_score            DOUBLE,             -- a learned rephrase detector's probability; NULL when none
    score                  DOUBLE NOT NULL     -- model_score when present, else heuristic_score
);

-- Per-day transition counts of the reformulation Markov chain (input of the Markov solver).
CREATE TABLE IF NOT EXISTS signals.markov_transitions (
    day           DATE NOT NULL,
    src           VARCHAR NOT NULL,            -- normalised utterance
    dst           VARCHAR NOT NULL,            -- normalised utterance, '__SUCCESS__' or '__FAILURE__'
    n_transitions BIGINT NOT NULL,
    n_sessions    BIGINT NOT NULL,
    users         VARCHAR[] NOT NULL,          -- distinct pseudonymised user ids, sorted
    rewritten     BOOLEAN NOT NULL             -- the source turns had rewrite_applied set
);
