-- Teachable AI (lib/teaching): moments and exchanges per day, what each teaching turn taught, and what each
-- (pseudonymised) user taught, as of each day.
CREATE SCHEMA IF NOT EXISTS teaching;

CREATE TABLE IF NOT EXISTS teaching.moments (
    day          DATE NOT NULL,      -- the partition
    event_id     VARCHAR NOT NULL,   -- the turn
    session_id   VARCHAR NOT NULL,
    user_id      VARCHAR NOT NULL,   -- pseudonymised
    norm_text    VARCHAR NOT NULL,   -- what was said, normalised
    kind         VARCHAR NOT NULL,   -- moment (teaching would have helped) | exchange (the turn taught something)
    reasons      VARCHAR[] NOT NULL, -- a moment's reasons: unsupported, clarify, unresolved_entity, repeated_failure, negative_feedback
    score        BIGINT NOT NULL,    -- number of reasons (the rule detector's score)
    asked_name   VARCHAR             -- the name its request asked for by an activation ("study mode"), or the name an answer defines
);

CREATE TABLE IF NOT EXISTS teaching.extractions (
    day          DATE NOT NULL,      -- the partition
    event_id     VARCHAR NOT NULL,   -- the teaching turn
    user_id      VARCHAR NOT NULL,
    key          VARCHAR NOT NULL,   -- preference name (team, cuisine, ...) or concept:<name>
    value        VARCHAR NOT NULL,   -- what it was taught to mean
    confidence   DOUBLE NOT NULL,    -- the extractor's P(this split is right); 1 for a preference the assistant's NLU gave
    method       VARCHAR NOT NULL    -- spans (the model) | rules (the baseline, when the model has too little gold to train)
);

CREATE TABLE IF NOT EXISTS teaching.user_preferences (
    day          DATE NOT NULL,      -- the snapshot: everything known at the end of this day
    user_id      VARCHAR NOT NULL,   -- pseudonymised
    key          VARCHAR NOT NULL,   -- preference name (team, cuisine, news_source, ...) or concept:<name>
    value        VARCHAR NOT NULL,   -- what the user taught it to mean (the runtime's value where it has one)
    source       VARCHAR NOT NULL,   -- runtime | mined | runtime+mined (lib/teaching/reconcile.py)
    event_id     VARCHAR NOT NULL,   -- provenance: the teaching turn / the runtime's event id
    confidence   DOUBLE NOT NULL,    -- 1 for the runtime's items; the extractor's confidence for mined ones
    agrees       BOOLEAN,            -- runtime+mined: the mined value is the runtime's; else NULL
    valid_from   TIMESTAMP NOT NULL, -- when it was taught (UTC)
    valid_to     TIMESTAMP,          -- when a later teaching of the key replaced it (NULL: current)
    "current"    BOOLEAN NOT NULL
);
