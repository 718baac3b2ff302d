-- dutywatch schema, first slice: organisations, people on duty, incidents, reports,
-- the chained timeline, pages, durable timers, the outbox, rejections and API tokens.
-- All times are timestamptz (UTC inside); organisations carry the zone they are shown in.

CREATE TABLE orgs (
    path        text PRIMARY KEY CHECK (path ~ '^[a-z0-9_-]+(\.[a-z0-9_-]+)*$'),
    name        text NOT NULL,
    parent_path text REFERENCES orgs (path),
    admin_code  text,
    tz          text NOT NULL DEFAULT 'Asia/Shanghai',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((parent_path IS NULL) = (position('.' IN path) = 0))
);

CREATE TABLE people (
    id         text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    name       text NOT NULL,
    org_path   text NOT NULL REFERENCES orgs (path),
    phone      text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Who holds which duty role when. The roster engine (rotations, layers, overrides)
-- expands into these rows; the spine reads them.
CREATE TABLE duty_shifts (
    id        bigserial PRIMARY KEY,
    org_path  text NOT NULL REFERENCES orgs (path),
    role      text NOT NULL CHECK (role IN ('duty_officer', 'leader_on_duty')),
    person_id text NOT NULL REFERENCES people (id),
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX duty_shifts_lookup ON duty_shifts (org_path, role, starts_at);

CREATE TABLE api_tokens (
    id         bigserial PRIMARY KEY,
    token_hash bytea NOT NULL UNIQUE,
    label      text NOT NULL,
    role       text NOT NULL CHECK (role IN ('office', 'officer', 'leader', 'reviewer', 'admin')),
    org_path   text NOT NULL REFERENCES orgs (path),
    person_id  text REFERENCES people (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz
);

CREATE TYPE incident_state AS ENUM ('open', 'acknowledged', 'resolved');

CREATE TABLE incidents (
    id                   bigserial PRIMARY KEY,
    org_path             text NOT NULL REFERENCES orgs (path),
    incident_ref         text NOT NULL,
    state                incident_state NOT NULL DEFAULT 'open',
    grade                text NOT NULL CHECK (grade IN ('I', 'II', 'III', 'IV')),
    category             text NOT NULL,
    title                text NOT NULL,
    status               text NOT NULL CHECK (status IN ('actual', 'exercise', 'test')),
    sensitive            boolean NOT NULL DEFAULT false,
    first_report_missing boolean NOT NULL DEFAULT false,
    occurred_at          timestamptz NOT NULL,
    opened_at            timestamptz NOT NULL,
    last_report_at       timestamptz NOT NULL,
    reports_count        integer NOT NULL DEFAULT 1,
    policy_version       text NOT NULL,
    policy_started_at    timestamptz,
    policy_fired         integer NOT NULL DEFAULT 0,
    acknowledged_at      timestamptz,
    acknowledged_by      text,
    resolved_at          timestamptz,
    resolved_by          text,
    -- Head of the timeline chain, kept here so appending needs no extra read and
    -- every writer serialises on the incident row it already locks.
    timeline_seq         integer NOT NULL DEFAULT 0,
    timeline_head        bytea NOT NULL DEFAULT '\x'::bytea,
    UNIQUE (org_path, incident_ref)
);
CREATE INDEX incidents_open ON incidents (org_path, opened_at DESC) WHERE state <> 'resolved';
CREATE INDEX incidents_opened_at ON incidents (opened_at DESC);

-- Every report stage exactly as received. report_id is the reporter's id and the
-- JetStream Nats-Msg-Id: a redelivered or republished report is a no-op.
CREATE TABLE reports (
    report_id   uuid PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incidents (id) DEFERRABLE INITIALLY DEFERRED,
    stage       text NOT NULL,
    sequence    integer,
    source      text NOT NULL,
    subject     text NOT NULL,
    received_at timestamptz NOT NULL,
    payload     jsonb NOT NULL
);
CREATE INDEX reports_incident ON reports (incident_id, received_at);

-- Mirrors dutywatch.timeline.EntryKind; each value names the transition it records.
CREATE TYPE timeline_kind AS ENUM (
    'report_received',      -- a report stage was stored (first, follow-up, final, supplementary)
    'incident_opened',      -- the first report of an incident_ref opened the incident
    'first_report_missing', -- a non-first stage arrived with no incident: opened from it, flagged
    'grade_changed',        -- a later report changed the event grade
    'paged',                -- a page for one person was written to the outbox
    'roster_gap',           -- nobody held the role; the page climbed to the parent duty room
    'acknowledged',         -- an officer acknowledged; the escalation climb stops
    'escalated',            -- an escalation step fired because nobody acknowledged in time
    'resolved',             -- the incident was closed; every timer cancelled
    'note'                  -- free text added by a person
);

-- Append-only. Each entry's hash commits to the previous one of its incident, and to a
-- salted digest of the personal data kept apart in personal_data (purgeable).
CREATE TABLE timeline_entries (
    incident_id     bigint NOT NULL REFERENCES incidents (id) DEFERRABLE INITIALLY DEFERRED,
    seq             integer NOT NULL CHECK (seq >= 1),
    kind            timeline_kind NOT NULL,
    at              timestamptz NOT NULL,
    actor           text NOT NULL,
    source          text NOT NULL CHECK (source IN ('nats', 'http', 'cli', 'system')),
    body            jsonb NOT NULL,
    personal_digest bytea,
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL,
    PRIMARY KEY (incident_id, seq)
);

CREATE FUNCTION timeline_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'timeline_entries is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a correction as a new entry instead.';
END;
$$;
CREATE TRIGGER timeline_append_only
    BEFORE UPDATE OR DELETE ON timeline_entries
    FOR EACH ROW EXECUTE FUNCTION timeline_refuse_change();
CREATE TRIGGER timeline_no_truncate
    BEFORE TRUNCATE ON timeline_entries
    FOR EACH STATEMENT EXECUTE FUNCTION timeline_refuse_change();

CREATE TABLE personal_data (
    incident_id bigint NOT NULL,
    seq         integer NOT NULL,
    salt        bytea NOT NULL,
    data        jsonb NOT NULL,
    PRIMARY KEY (incident_id, seq),
    FOREIGN KEY (incident_id, seq) REFERENCES timeline_entries (incident_id, seq)
);

CREATE TABLE pages (
    id             bigserial PRIMARY KEY,
    incident_id    bigint NOT NULL REFERENCES incidents (id) DEFERRABLE INITIALLY DEFERRED,
    person_id      text NOT NULL REFERENCES people (id),
    role           text NOT NULL,
    org_path       text NOT NULL,
    reason         text NOT NULL,
    step           integer NOT NULL,
    policy_version text NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX pages_incident ON pages (incident_id);

-- Durable timers: claimed with FOR UPDATE SKIP LOCKED by any replica.
CREATE TABLE timers (
    id           bigserial PRIMARY KEY,
    incident_id  bigint NOT NULL REFERENCES incidents (id) DEFERRABLE INITIALLY DEFERRED,
    kind         text NOT NULL CHECK (kind IN ('escalation')),
    step         integer NOT NULL,
    due_at       timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    fired_at     timestamptz,
    cancelled_at timestamptz
);
CREATE INDEX timers_due ON timers (due_at) WHERE fired_at IS NULL AND cancelled_at IS NULL;
CREATE INDEX timers_incident ON timers (incident_id) WHERE fired_at IS NULL AND cancelled_at IS NULL;

-- Transactional outbox: written with the state change, published after commit with the
-- row id as Nats-Msg-Id, so a crash between commit and publish neither loses nor doubles.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    subject      text NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    published_at timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE rejections (
    id          bigserial PRIMARY KEY,
    received_at timestamptz NOT NULL,
    source      text NOT NULL,
    subject     text,
    msg_id      text,
    reason      text NOT NULL,
    message     text NOT NULL,
    field       text,
    raw         bytea NOT NULL
);

-- Commands already carried out, so a replayed command (same command_id) is answered
-- with the first result and changes nothing.
CREATE TABLE commands (
    command_id  uuid PRIMARY KEY,
    verb        text NOT NULL,
    incident_id bigint,
    actor       text NOT NULL,
    at          timestamptz NOT NULL,
    result      jsonb NOT NULL
);
