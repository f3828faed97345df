-- The online rewriter's layers, per day (the last day of the window they were built from).
CREATE SCHEMA IF NOT EXISTS online;

-- What works for everyone: texts said by >= min_users distinct users in the window, and the Markov table's targets.
CREATE TABLE IF NOT EXISTS online.global_entries (
    day          DATE NOT NULL,      -- last day of the window: the partition
    text         VARCHAR NOT NULL,   -- normalised utterance (as a Markov state)
    users        BIGINT NOT NULL,    -- distinct pseudonymised users who said it in the window (>= min_users)
    turns        BIGINT NOT NULL,    -- turns that said it in the window (0: a Markov target known only from the table)
    success_rate DOUBLE,             -- mean P(success) = mean(1 - defect_prob) over those turns (Markov targets: absorption probability)
    intent       VARCHAR,            -- most frequent "domain.intent" on its successful turns (NULL: none)
    slots        VARCHAR,            -- their slots, "name=value;..." sorted (NULL: none)
    from_markov  BOOLEAN NOT NULL,   -- a rewrite target of the day's Markov table
    candidate    BOOLEAN NOT NULL    -- offered as a rewrite: success_rate >= min_success
);

-- What works (and fails) for each user: every text they said in the window, most used first, up to max_per_user.
CREATE TABLE IF NOT EXISTS online.personal_entries (
    day          DATE NOT NULL,      -- last day of the window: the partition
    user_id      VARCHAR NOT NULL,   -- pseudonymised user id (as in clean_turns); served only to this user
    text         VARCHAR NOT NULL,   -- normalised utterance
    uses         BIGINT NOT NULL,    -- times this user said it in the window
    success_rate DOUBLE NOT NULL,    -- mean P(success) of this user's turns saying it
    last_day     DATE NOT NULL,      -- last day this user said it
    intent       VARCHAR,            -- most frequent "domain.intent" on this user's successful turns of it (NULL: none)
    slots        VARCHAR,            -- their slots, "name=value;..." sorted (NULL: none)
    candidate    BOOLEAN NOT NULL    -- offered to this user as a rewrite: success_rate >= min_success
);

-- The self-aware rule's verdicts on the online layers' rewrites applied in the window (lib/online/self_aware.py).
CREATE TABLE IF NOT EXISTS online.rewrite_verdicts (
    day                 DATE NOT NULL,     -- last day of the window: the partition
    rewrite_id          VARCHAR NOT NULL,  -- rewrite_applied.rewrite_id: blake2b of source + target (markov.mine.rewrite_id)
    source_text         VARCHAR NOT NULL,  -- normalised request the runtime rewrote
    rewrite_text        VARCHAR NOT NULL,  -- normalised text it ran instead
    rewritten_successes BIGINT NOT NULL,   -- rewritten turns of it whose chain ended in success right after
    rewritten_failures  BIGINT NOT NULL,   -- rewritten turns that failed or were rephrased
    source_successes    BIGINT NOT NULL,   -- organic (not rewritten) turns of the source that succeeded
    source_failures     BIGINT NOT NULL,   -- organic turns of the source that failed or were rephrased
    prob_rewrite_better DOUBLE NOT NULL,   -- P(θ_rewritten > θ_source) under Beta(1 + s, 1 + f) posteriors
    decision            VARCHAR NOT NULL,  -- keep | drop (drop: exported as blocked, never offered for the source)
    reason              VARCHAR NOT NULL,  -- better | insufficient_evidence | worse | dropped_earlier
    layers              VARCHAR,           -- layers that applied it in the window ("global", "personal", "global,personal")
    first_dropped       DATE               -- day it was first dropped (NULL: kept)
);
