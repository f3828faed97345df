-- Tables of the ingest stage (and one view, the annotation pivot ingest.turn_annotations). Every table but
-- key_rotations carries the partition column `day` (UTC date). clean_turns and quarantined_turns live in the
-- lake (lib/lake/: one Parquet file per day, published whole, re-ingesting a day replaces it; the warehouse
-- has a view of each over the lake, lib/ingest/store.py, and this file stays the definition of their columns).
-- The other tables stay in the warehouse: re-materializing a day deletes that day's rows and inserts the new
-- ones in one transaction.
CREATE SCHEMA IF NOT EXISTS ingest;

-- One row per valid user turn (input contract v1), typed. user_id and device_id are pseudonymised (keyed
-- hash), also where they occur nested in `extra`.
CREATE TABLE IF NOT EXISTS ingest.clean_turns (
    day                  DATE NOT NULL,         -- UTC date of ts: the partition
    event_id             VARCHAR NOT NULL,      -- unique id of the turn
    session_id           VARCHAR NOT NULL,      -- dialogue session
    user_id              VARCHAR NOT NULL,      -- keyed hash of the raw customer id
    device_id            VARCHAR NOT NULL,      -- keyed hash of the raw device id
    ts                   TIMESTAMP NOT NULL,    -- UTC, naive
    asr_text             VARCHAR NOT NULL,      -- ASR 1-best ("" for no speech)
    device_type          VARCHAR,               -- speaker, screen, tv, car, phone, other
    locale               VARCHAR NOT NULL,      -- default en-US
    wake_score           DOUBLE,                -- wake-word (voice trigger) confidence, 0..1
    asr_confidence       DOUBLE,                -- ASR confidence of asr_text, 0..1
    asr_nbest            STRUCT(text VARCHAR, score DOUBLE)[],  -- ASR n-best hypotheses with their scores
    nlu_domain           VARCHAR,               -- NLU domain; NULL when unhandled
    nlu_intent           VARCHAR,               -- NLU intent; NULL when unhandled
    nlu_slots            STRUCT(name VARCHAR, value VARCHAR)[],  -- NLU slots (name, value)
    nlu_confidence       DOUBLE,                -- NLU confidence, 0..1
    er_status            VARCHAR,               -- resolved, unresolved, not_applicable
    er_entity_id         VARCHAR,               -- the resolved entity
    response_text        VARCHAR,               -- what the assistant said
    response_status      VARCHAR,               -- success, error, clarify, unsupported, no_response
    response_duration_ms BIGINT,                -- length of the spoken response
    barge_in             BOOLEAN,               -- the user interrupted the response
    explicit_feedback    VARCHAR,               -- positive, negative
    device_state         MAP(VARCHAR, VARCHAR), -- e.g. {"oven": "on", "media": "playing"}
    rewrite_applied      STRUCT(rewrite_id VARCHAR, source_text VARCHAR, rewrite_text VARCHAR, layer VARCHAR),  -- set when the runtime rewrote this request
    audio_uri            VARCHAR,               -- pointer to the audio (optional)
    extra                JSON,                  -- unknown top-level fields, as a JSON object (NULL when none)
    source_file          VARCHAR NOT NULL,      -- the raw file, relative to the raw root
    source_line          BIGINT NOT NULL        -- 1-based line (or row, for Parquet) in source_file
);

-- Every rejected input line, with where it came from and why.
CREATE TABLE IF NOT EXISTS ingest.quarantined_turns (
    day          DATE NOT NULL,                 -- the partition whose raw folder (date=D/) held the line (not always the date of its ts)
    source_file  VARCHAR NOT NULL,              -- the raw file, relative to the raw root
    source_line  BIGINT NOT NULL,               -- 1-based line (or row, for Parquet) in source_file; 0: the file was not read
    raw          VARCHAR,                       -- the line as read, without its terminator (invalid UTF-8 bytes as U+FFFD; line_too_long: its first 10,000 characters), every user_id/device_id value pseudonymised; NULL for a file not read
    event_id     VARCHAR,                       -- the line's event_id as text, when it parsed as a JSON object that has one (NULL otherwise)
    reason       VARCHAR NOT NULL,              -- short code of the first failed check (validated_turns.sql), or skipped_file, duplicate_event_id, conflicting_duplicate_event_id
    detail       VARCHAR NOT NULL               -- human-readable: which field, what value; for a file not read its read error or why it was skipped; for a duplicate where the first copy is
);

-- Per-partition accounting: read = clean + quarantined. A file that was not read (unreadable, or skipped for
-- its name or place) is one quarantined row at line 0; the other lines it probably held are counted in
-- lines_lost_estimate, which the quarantine-rate gate adds to both sides of its rate.
CREATE TABLE IF NOT EXISTS ingest.partition_stats (
    day                 DATE PRIMARY KEY,          -- the ingested partition (its row is replaced when the day is re-ingested)
    files               INTEGER NOT NULL,          -- raw files of the day folder, read or tried (empty and unreadable ones included), plus the skipped files under it that are not hidden or marker files
    lines_read          BIGINT NOT NULL,           -- lines read from those files, each file not read counting as its one line-0 row
    clean_rows          BIGINT NOT NULL,           -- the day's rows in ingest.clean_turns when it was ingested (later copies of duplicate event ids already moved out)
    quarantined_rows    BIGINT NOT NULL,           -- the day's rows in ingest.quarantined_turns when it was ingested; lines_read = clean_rows + quarantined_rows
    ingested_at         TIMESTAMP NOT NULL,        -- start of the day's ingestion transaction, UTC, naive (a gate must have checked the day after it)
    lines_lost_estimate BIGINT DEFAULT 0,          -- estimated lines of unread files beyond their one row each: the sum over lost_files of lines_estimate - 1
    lost_files          JSON                       -- [{file, reason, lines_estimate, detail}], NULL when none: each file not read (unreadable_file or skipped_file), the lines it probably held, the read error or skip reason
);
-- warehouses made before these columns existed
ALTER TABLE ingest.partition_stats ADD COLUMN IF NOT EXISTS lines_lost_estimate BIGINT DEFAULT 0;
ALTER TABLE ingest.partition_stats ADD COLUMN IF NOT EXISTS lost_files JSON;

-- The fingerprint of the pseudonym key each day was ingested with (never the key): pseudonyms made with
-- different keys do not match, so a day whose key differs from its neighbours' is refused unless the change
-- is declared in ingest.key_rotations (lib/ingest/pseudonym_keys.py).
CREATE TABLE IF NOT EXISTS ingest.key_fingerprints (
    day         DATE PRIMARY KEY,   -- the ingested partition (its row is replaced when the day is re-ingested)
    fingerprint VARCHAR NOT NULL,   -- 12 hex characters of a SHA-256 of the pseudonym key (key_fingerprint): identifies the key, never reveals it
    recorded_at TIMESTAMP NOT NULL  -- start of the day's ingestion transaction, UTC, naive
);

-- Declared key rotations (`selflearn rotate-key`): days ingested with old_fingerprint may be followed by days
-- ingested with new_fingerprint. The same customer has different pseudonyms on the two sides.
CREATE TABLE IF NOT EXISTS ingest.key_rotations (
    old_fingerprint VARCHAR NOT NULL,   -- fingerprint of the key of the earlier days
    new_fingerprint VARCHAR NOT NULL,   -- fingerprint of the key of the later days (rotate-key: the current SELFLEARN_PSEUDONYM_KEY's); one row per old -> new pair
    declared_at     TIMESTAMP NOT NULL, -- when the rotation was declared, UTC, naive
    meaning         VARCHAR NOT NULL    -- what it does to pseudonyms, distinct-user counts and per-user history (ROTATION_MEANING)
);

-- One row per dialogue session of the day (a session that crosses UTC midnight has a row in each day,
-- counting that day's turns). user_id and device_id are those of the session's first turn (by ts, then event_id);
-- device_type that of the first turn that logged one.
CREATE TABLE IF NOT EXISTS ingest.sessions (
    day                 DATE NOT NULL,          -- UTC date of the turns: the partition
    session_id          VARCHAR NOT NULL,       -- the dialogue session, one row per session and day
    user_id             VARCHAR NOT NULL,       -- keyed hash of the customer id of the session's first turn that day
    device_id           VARCHAR NOT NULL,       -- keyed hash of the device id of the session's first turn that day
    device_type         VARCHAR,                -- of the first turn that day that logged one (NULL: none did)
    start_ts            TIMESTAMP NOT NULL,     -- ts of the first turn that day, UTC, naive
    end_ts              TIMESTAMP NOT NULL,     -- ts of the last turn that day, UTC, naive
    n_turns             INTEGER NOT NULL,       -- clean turns of the session that day
    n_barge_in          INTEGER NOT NULL,       -- turns with barge_in true
    n_error             INTEGER NOT NULL,       -- turns with response_status error, unsupported or no_response
    n_clarify           INTEGER NOT NULL,       -- turns with response_status clarify
    n_explicit_negative INTEGER NOT NULL,       -- turns with explicit_feedback negative
    n_explicit_positive INTEGER NOT NULL,       -- turns with explicit_feedback positive
    n_rewritten         INTEGER NOT NULL,       -- turns with rewrite_applied
    duration_s          DOUBLE NOT NULL         -- end_ts - start_ts in seconds (0 for a single turn)
);

-- One row per valid (event_id, task, annotator) annotation of the day. label is JSON typed per task.
CREATE TABLE IF NOT EXISTS ingest.annotations (
    day         DATE NOT NULL,                  -- the annotation partition (annotations/date=D/): the day of the annotated turn
    event_id    VARCHAR NOT NULL,               -- the annotated turn's event_id, as given (not checked against ingest.clean_turns)
    task        VARCHAR NOT NULL,               -- failure_point, goal_start, goal_success, intent, slots, rephrase_of, intended_text
    annotator   VARCHAR NOT NULL,               -- annotator id, as given ('gold': the adjudicated label)
    label       JSON,                           -- the label, valid for its task (staged_annotations.sql); NULL only for rephrase_of = null
    is_gold     BOOLEAN NOT NULL,               -- annotator = 'gold' (adjudicated label of three annotators)
    source_file VARCHAR NOT NULL,               -- the raw annotation file, relative to the raw root
    source_line BIGINT NOT NULL                 -- 1-based line (or row, for Parquet) in source_file
);

-- The annotation pivot, the one definition of "gold" and of "the single annotator" that every reader of
-- annotations uses: one row per annotated (day, event_id), day being the annotation partition (the day of
-- the turn, annotations/date=D/), and per task the gold label (gold_<task>) and the single annotator's
-- (ann_<task>), typed: failure_point, intent, rephrase_of, intended_text VARCHAR; goal_start, goal_success
-- BOOLEAN; slots STRUCT(name, value)[] in the annotated order. NULL = not annotated, except rephrase_of,
-- whose label may be null ("rephrases no earlier turn"): has_gold_rephrase_of / has_ann_rephrase_of say
-- whether it was annotated. has_gold: the turn has a gold label of any task.
--   Gold is `is_gold`. The input contract says annotator "gold" is the adjudicated label of three
--   annotators, and ingestion (annotations.sql) stores exactly that as is_gold = (annotator = 'gold'); so
--   readers use the stored flag and never re-read annotator names. Any other annotator is a single
--   annotator; where several labelled a turn, ann_<task> is the one with the smallest annotator id.
-- CREATE ... IF NOT EXISTS like the tables: a changed definition needs a DROP VIEW first in old warehouses.
CREATE VIEW IF NOT EXISTS ingest.turn_annotations AS
WITH typed AS (  -- each label read as its task's type (a CASE: casts only the rows of that task)
    SELECT day, event_id, task, annotator, is_gold,
        label ->> '$' AS text,
        CASE WHEN task IN ('goal_start', 'goal_success') THEN (label ->> '$')::BOOLEAN END AS flag,
        CASE WHEN task = 'slots' THEN from_json(label, '[{"name": "VARCHAR", "value": "VARCHAR"}]') END AS slots
    FROM ingest.annotations
)
SELECT
    day,
    event_id,
    bool_or(is_gold) AS has_gold,
    first(text ORDER BY annotator) FILTER (WHERE is_gold AND task = 'failure_point') AS gold_failure_point,
    first(text ORDER BY annotator) FILTER (WHERE NOT is_gold AND task = 'failure_point') AS ann_failure_point,
    first(flag ORDER BY annotator) FILTER (WHERE is_gold AND task = 'goal_start') AS gold_goal_start,
    first(flag ORDER BY annotator) FILTER (WHERE NOT is_gold AND task = 'goal_start') AS ann_goal_start,
    first(flag ORDER BY annotator) FILTER (WHERE is_gold AND task = 'goal_success') AS gold_goal_success,
    first(flag ORDER BY annotator) FILTER (WHERE NOT is_gold AND task = 'goal_success') AS ann_goal_success,
    first(text ORDER BY annotator) FILTER (WHERE is_gold AND task = 'intent') AS gold_intent,
    first(text ORDER BY annotator) FILTER (WHERE NOT is_gold AND task = 'intent') AS ann_intent,
    first(slots ORDER BY annotator) FILTER (WHERE is_gold AND task = 'slots') AS gold_slots,
    first(slots ORDER BY annotator) FILTER (WHERE NOT is_gold AND task = 'slots') AS ann_slots,
    bool_or(is_gold AND task = 'rephrase_of') AS has_gold_rephrase_of,
    bool_or(NOT is_gold AND task = 'rephrase_of') AS has_ann_rephrase_of,
    first(text ORDER BY annotator) FILTER (WHERE is_gold AND task = 'rephrase_of') AS gold_rephrase_of,
    first(text ORDER BY annotator) FILTER (WHERE NOT is_gold AND task = 'rephrase_of') AS ann_rephrase_of,
    first(text ORDER BY annotator) FILTER (WHERE is_gold AND task = 'intended_text') AS gold_intended_text,
    first(text ORDER BY annotator) FILTER (WHERE NOT is_gold AND task = 'intended_text') AS ann_intended_text
FROM typed
GROUP BY day, event_id;

-- Every rejected annotation line, with where it came from and why (read = clean + quarantined).
CREATE TABLE IF NOT EXISTS ingest.quarantined_annotations (
    day          DATE NOT NULL,                 -- the annotation partition whose folder (annotations/date=D/) held the line
    source_file  VARCHAR NOT NULL,              -- the raw annotation file, relative to the raw root
    source_line  BIGINT NOT NULL,               -- 1-based line (or row, for Parquet) in source_file; 0: the file could not be read
    raw          VARCHAR,                       -- the line as read, without its terminator (invalid UTF-8 bytes as U+FFFD; line_too_long: its first 10,000 characters), every user_id/device_id value replaced by "redacted"; NULL for an unreadable file
    event_id     VARCHAR,                       -- the line's event_id when it is a JSON string (NULL otherwise)
    reason       VARCHAR NOT NULL,              -- short code of the first failed check (staged_annotations.sql), or duplicate_annotation, conflicting_duplicate_annotation
    detail       VARCHAR NOT NULL               -- human-readable: which field, what value; the read error of an unreadable file; the line of a duplicate's first copy
);
