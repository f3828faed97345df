-- Tables of the signals stage. Every table carries the partition column `day` (UTC date). defect_signals,
-- rephrase_candidates and markov_transitions live in the lake (lib/lake/: one Parquet file per day, published
-- whole, re-materializing a day replaces it; the warehouse has a view of each over the lake, and this file stays
-- the definition of their columns). defect_model, small and read across days, stays a warehouse table.
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
    day                  DATE NOT NULL,        -- UTC date of the turn: the partition
    event_id             VARCHAR NOT NULL,     -- the clean turn (ingest.clean_turns), one row each
    session_id           VARCHAR NOT NULL,     -- its dialogue session
    user_id              VARCHAR NOT NULL,     -- keyed hash of the customer id (as in clean_turns)
    ts                   TIMESTAMP NOT NULL,   -- when the request started, UTC, naive
    turn_index           INTEGER NOT NULL,     -- 1-based position in the session (within the day), by ts then event_id
    norm_text            VARCHAR NOT NULL,     -- normalised asr_text, the Markov state key ('' for no speech)
    response_status      VARCHAR,              -- as logged: success, error, clarify, unsupported, no_response
    asr_confidence       DOUBLE,               -- as logged, 0..1
    nlu_confidence       DOUBLE,               -- as logged, 0..1
    wake_score           DOUBLE,               -- as logged: wake-word confidence, 0..1
    next_gap_s           DOUBLE,               -- seconds from request start to the session's next request that day (NULL: the day's last)
    barge_in             BOOLEAN,              -- the user interrupted the response (NULL: not logged)
    response_error       BOOLEAN,              -- response_status = 'error' (NULL: no status logged)
    response_unsupported BOOLEAN,              -- response_status = 'unsupported' (NULL: no status logged)
    response_no_response BOOLEAN,              -- response_status = 'no_response' (NULL: no status logged)
    response_clarify     BOOLEAN,              -- response_status = 'clarify' (NULL: no status logged)
    explicit_negative    BOOLEAN NOT NULL,     -- explicit_feedback = 'negative' (false when absent)
    explicit_positive    BOOLEAN NOT NULL,     -- explicit_feedback = 'positive' (false when absent)
    abandoned            BOOLEAN,              -- non-success response, then no request of the session within abandon_gap_s of its end (or none that day)
    followed_by_similar  BOOLEAN NOT NULL,     -- a lexically similar request of the session follows within similar_gap_s and similar_max_turn_distance turns
    low_asr_confidence   BOOLEAN,              -- asr_confidence < low_asr_confidence (NULL: no confidence logged)
    low_nlu_confidence   BOOLEAN,              -- nlu_confidence < low_nlu_confidence (NULL: no confidence logged)
    low_wake_score       BOOLEAN,              -- wake_score < low_wake_score, a false-wake cue (NULL: no score logged)
    er_unresolved        BOOLEAN,              -- er_status = 'unresolved' (NULL: no entity-resolution status logged)
    defect_prob          DOUBLE NOT NULL,      -- P(defective turn) = sigmoid(bias + sum of the weights of the signals that fired), 0..1
    defect_model_day     DATE                  -- day of the signals.defect_model row whose weights were used (NULL: the default prior)
);

-- The defect combination fitted on gold annotations, one row per day whose refit on its window's gold beat the
-- default prior on held-out sessions. A day without a row uses the documented default prior when its own refit
-- lost to it, else (too little gold to refit) the row with the latest day before it, or the prior when there is none.
CREATE TABLE IF NOT EXISTS signals.defect_model (
    day            DATE NOT NULL,              -- the partition whose refit it is: used by that day, and by later days with too little gold to refit
    fitted_on_days DATE[] NOT NULL,            -- days of the calibration window whose gold turns it was fitted on
    weights        JSON NOT NULL,              -- log-odds weights: {"bias": b, "<signal>": w, ...} over the 13 defect signals
    metrics        JSON NOT NULL,              -- calibration report: gold counts, before/prior/after Brier, log loss, ECE, AUC, reliability, the choice
    created_at     TIMESTAMP NOT NULL          -- when the row was written, UTC, naive
);

-- Pairs (turn, later turn) of one session within a time gap and a turn distance, with rephrase features.
CREATE TABLE IF NOT EXISTS signals.rephrase_candidates (
    day                    DATE NOT NULL,      -- UTC date of the turns: the partition
    session_id             VARCHAR NOT NULL,   -- the session both turns belong to
    user_id                VARCHAR NOT NULL,   -- keyed hash of the customer id (of the first turn)
    first_event_id         VARCHAR NOT NULL,   -- the earlier turn
    second_event_id        VARCHAR NOT NULL,   -- the later turn: the candidate rephrase of the first
    first_text             VARCHAR NOT NULL,   -- asr_text of the first, as logged
    second_text            VARCHAR NOT NULL,   -- asr_text of the second, as logged
    time_gap_s             DOUBLE NOT NULL,    -- seconds between the two request starts (<= rephrase_max_gap_s)
    turn_distance          INTEGER NOT NULL,   -- 1 = the next turn (<= rephrase_max_turn_distance)
    token_jaccard          DOUBLE NOT NULL,    -- Jaccard of the two token sets, on normalised text, 0..1
    edit_similarity        DOUBLE NOT NULL,    -- 1 - levenshtein / longer length, on normalised text
    jaro_winkler           DOUBLE NOT NULL,    -- Jaro-Winkler similarity of the normalised texts, 0..1
    phonetic_similarity    DOUBLE NOT NULL,    -- edit similarity of the token-wise metaphone codes
    domain_changed         BOOLEAN,            -- the NLU domains differ (one missing counts); NULL when neither turn has one
    intent_changed         BOOLEAN,            -- the NLU intents differ (one missing counts); NULL when neither turn has one
    slots_changed          BOOLEAN,            -- the sorted NLU slots differ (one missing counts); NULL when neither turn has them
    interpretation_changed BOOLEAN,            -- any of the three is true (NULL: none true, one or more NULL)
    first_defect_prob      DOUBLE NOT NULL,    -- defect_prob of the first turn (signals.defect_signals)
    second_defect_prob     DOUBLE NOT NULL,    -- defect_prob of the second turn
    second_success         BOOLEAN,            -- response_status of the second = 'success'; NULL when absent
    heuristic_score        DOUBLE NOT NULL,    -- documented hand-set logistic in [0, 1] (lib/signals/params.py)
    model_score            DOUBLE,             -- the rephrase detector champion's P(second rephrases first) (NULL: no champion, or no opinion on the pair)
    score                  DOUBLE NOT NULL     -- w * model_score + (1 - w) * heuristic_score where the model scored (w = rephrase_model_weight, default 1), else heuristic_score
);

-- Per-day transition counts of the reformulation Markov chain (input of the Markov solver).
CREATE TABLE IF NOT EXISTS signals.markov_transitions (
    day           DATE NOT NULL,               -- UTC date of the turns: the partition
    src           VARCHAR NOT NULL,            -- normalised utterance of the source turns
    dst           VARCHAR NOT NULL,            -- normalised utterance it was rephrased into, '__SUCCESS__' or '__FAILURE__'
    n_transitions BIGINT NOT NULL,             -- turns that made this transition
    n_sessions    BIGINT NOT NULL,             -- distinct sessions among them
    users         VARCHAR[] NOT NULL,          -- distinct pseudonymised user ids, sorted
    rewritten     BOOLEAN NOT NULL,            -- the source turns had rewrite_applied set
    rewrite_id    VARCHAR,                     -- rewrite_applied.rewrite_id (NULL: not rewritten, or a day built before this column)
    rewrite_layer VARCHAR                      -- rewrite_applied.layer: table | global | personal
);
