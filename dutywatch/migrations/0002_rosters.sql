-- Rosters (值班表) replace duty_shifts as the source of truth for who is on duty.
--
-- A roster belongs to one organisation (one roster per duty room) and says how many people
-- each role needs at once (roster_slots). Layers stack rotations per role slot and day kind;
-- overrides replace a person for an interval and always win; a swap is two overrides made
-- together and approved. Holiday calendars are shared (one per jurisdiction, e.g. the State
-- Council's national schedule) and a roster names the one it follows. Pages are routed by
-- expanding the rosters of the organisation chain around "now" (dutywatch.rosters.expansion);
-- nothing stores expanded shifts.
--
-- Every change is written to roster_audit (append-only) and published on
-- dutywatch.event.<org path>.roster through the outbox, in the same transaction.

-- Mirrors dutywatch.rosters.model.Role.
CREATE TYPE roster_role AS ENUM (
    'duty_officer',   -- 值班员: first to be paged
    'leader_on_duty', -- 带班领导: paged when the duty officer does not acknowledge
    'deputy_officer', -- 副班: second officer on two-person duty
    'standby'         -- 备班: called in, never paged by the escalation policy
);

-- Mirrors dutywatch.rosters.model.DayKind.
CREATE TYPE day_kind AS ENUM (
    'every_day',
    'workdays',  -- Monday-Friday that are not holidays, plus make-up workdays (调休)
    'restdays',  -- Saturday, Sunday and holidays, minus make-up workdays
    'holidays'   -- holidays only
);

-- Mirrors dutywatch.rosters.store.ContactKind: how a page reaches a person.
CREATE TYPE contact_kind AS ENUM (
    'console', -- the duty console page; address names the seat or screen
    'nats',    -- a NATS subject the person's app reads
    'webhook', -- an HTTPS endpoint
    'email',
    'sms'      -- a phone number for the SMS gateway
);

CREATE TABLE contact_methods (
    id         bigserial PRIMARY KEY,
    person_id  text NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    kind       contact_kind NOT NULL,
    address    text NOT NULL CHECK (length(address) BETWEEN 1 AND 500),
    -- Lower is tried first.
    priority   integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 99),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contact_methods_unique UNIQUE (person_id, kind, address),
    CONSTRAINT contact_methods_address_fits_kind CHECK (
        CASE kind
            WHEN 'email' THEN address ~ '^[^@\s]+@[^@\s]+\.[^@\s]+$'
            WHEN 'sms' THEN address ~ '^\+?[0-9]{5,20}$'
            WHEN 'webhook' THEN address ~ '^https?://[^\s]+$'
            WHEN 'nats' THEN address ~ '^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$'
            ELSE address !~ '[\r\n]'
        END
    )
);
CREATE INDEX contact_methods_person ON contact_methods (person_id, priority);

-- Public holidays and make-up workdays (调休), loaded per year from the jurisdiction's
-- published schedule. Shared: every roster of the jurisdiction names the same calendar.
CREATE TABLE holiday_calendars (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9_-]{1,64}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE holiday_days (
    calendar_id text NOT NULL REFERENCES holiday_calendars (id) ON DELETE CASCADE,
    day         date NOT NULL,
    -- A day is either a holiday or a make-up workday (调休), never both.
    makeup_workday boolean NOT NULL DEFAULT false,
    PRIMARY KEY (calendar_id, day)
);

CREATE TABLE rosters (
    id          bigserial PRIMARY KEY,
    org_path    text NOT NULL REFERENCES orgs (path),
    name        text NOT NULL DEFAULT '' CHECK (length(name) <= 200),
    -- Handoff times of the rotations are local times in this zone (defaults to the org's).
    tz          text NOT NULL DEFAULT 'Asia/Shanghai' CHECK (tz ~ '^[A-Za-z0-9_+/-]{1,64}$'),
    calendar_id text REFERENCES holiday_calendars (id),
    -- Bumped by every change; roster events carry it so consumers can order them.
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    -- One duty room, one roster: "who is on duty for org X" has one answer.
    CONSTRAINT rosters_one_per_org UNIQUE (org_path)
);

-- How many people each role needs at once (slots 0 .. people-1); 双带班 is people = 2.
CREATE TABLE roster_slots (
    roster_id bigint NOT NULL REFERENCES rosters (id) ON DELETE CASCADE,
    role      roster_role NOT NULL,
    people    integer NOT NULL CHECK (people BETWEEN 1 AND 9),
    PRIMARY KEY (roster_id, role)
);

-- People taken off a roster (left, long absence): never on duty there, even if a rotation
-- or an override still names them.
CREATE TABLE roster_removed (
    roster_id bigint NOT NULL REFERENCES rosters (id) ON DELETE CASCADE,
    person_id text NOT NULL REFERENCES people (id),
    PRIMARY KEY (roster_id, person_id)
);

CREATE TABLE rotations (
    id            bigserial PRIMARY KEY,
    roster_id     bigint NOT NULL REFERENCES rosters (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    -- Whole days (handing over at `handoff` local time every N days, DST-safe) or a part
    -- of a day that divides it (12 h, 8 h, ...); at least an hour, at most a year.
    shift_seconds integer NOT NULL CHECK (
        shift_seconds BETWEEN 3600 AND 366 * 86400
        AND (shift_seconds % 86400 = 0 OR 86400 % shift_seconds = 0)
    ),
    handoff       time NOT NULL,
    start_date    date NOT NULL,
    CONSTRAINT rotations_name_unique UNIQUE (roster_id, name),
    -- Target of the layers' composite key: a layer uses a rotation of its own roster.
    UNIQUE (id, roster_id)
);

-- The ordered people of a rotation; position 0 holds the shift that starts on start_date.
-- A person may appear more than once (a, b, a, c).
CREATE TABLE rotation_members (
    rotation_id bigint NOT NULL REFERENCES rotations (id) ON DELETE CASCADE,
    position    integer NOT NULL CHECK (position BETWEEN 0 AND 999),
    person_id   text NOT NULL REFERENCES people (id),
    PRIMARY KEY (rotation_id, position)
);

CREATE TABLE roster_layers (
    id          bigserial PRIMARY KEY,
    roster_id   bigint NOT NULL REFERENCES rosters (id) ON DELETE CASCADE,
    rotation_id bigint NOT NULL,
    role        roster_role NOT NULL,
    slot        integer NOT NULL DEFAULT 0 CHECK (slot BETWEEN 0 AND 8),
    days        day_kind NOT NULL DEFAULT 'every_day',
    -- Higher wins where two layers of one role slot apply on the same day.
    priority    integer NOT NULL DEFAULT 0 CHECK (priority BETWEEN -1000 AND 1000),
    FOREIGN KEY (rotation_id, roster_id) REFERENCES rotations (id, roster_id),
    -- Two layers that tie on everything would leave the winner undefined.
    CONSTRAINT roster_layers_unambiguous UNIQUE (roster_id, role, slot, days, priority)
);

-- A person holds a role slot for an interval; always wins over the layers. Overrides of one
-- role slot never overlap (checked by the store under the roster's row lock).
CREATE TABLE roster_overrides (
    id         bigserial PRIMARY KEY,
    roster_id  bigint NOT NULL REFERENCES rosters (id) ON DELETE CASCADE,
    role       roster_role NOT NULL,
    slot       integer NOT NULL DEFAULT 0 CHECK (slot BETWEEN 0 AND 8),
    person_id  text NOT NULL REFERENCES people (id),
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    -- The person taken off (NULL: whoever the layers put there).
    replaces   text REFERENCES people (id),
    reason     text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT roster_overrides_interval CHECK (
        ends_at > starts_at AND ends_at - starts_at <= interval '366 days'
    ),
    CONSTRAINT roster_overrides_replaces_someone_else CHECK (replaces IS DISTINCT FROM person_id)
);
CREATE INDEX roster_overrides_window ON roster_overrides (roster_id, ends_at, starts_at);

-- Two people trade shifts: two overrides created together, each replacing the other person,
-- approved by a third person (or a leader). Delete the swap to undo both overrides.
CREATE TABLE roster_swaps (
    id          bigserial PRIMARY KEY,
    roster_id   bigint NOT NULL REFERENCES rosters (id) ON DELETE CASCADE,
    first_id    bigint NOT NULL UNIQUE REFERENCES roster_overrides (id),
    second_id   bigint NOT NULL UNIQUE REFERENCES roster_overrides (id),
    approved_by text NOT NULL REFERENCES people (id),
    reason      text NOT NULL DEFAULT '' CHECK (length(reason) <= 500),
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT roster_swaps_two_overrides CHECK (first_id <> second_id)
);

-- Who changed what in the duty directory (rosters and their parts, holiday calendars,
-- organisations, people, contact methods), when, from where, with the entity before and
-- after. Append-only; roster_id is deliberately not a foreign key, so a deleted roster's
-- history stays.
CREATE TYPE audit_entity AS ENUM (
    'roster', 'rotation', 'layer', 'override', 'swap', 'holiday_calendar',
    'org', 'person', 'contact_method'
);
CREATE TYPE audit_action AS ENUM ('created', 'updated', 'deleted');

CREATE TABLE roster_audit (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    source    text NOT NULL CHECK (source IN ('http', 'cli', 'system')),
    entity    audit_entity NOT NULL,
    entity_id text NOT NULL,
    action    audit_action NOT NULL,
    roster_id bigint,
    org_path  text NOT NULL,
    version   integer CHECK (version >= 1),
    before    jsonb,
    after     jsonb,
    CONSTRAINT roster_audit_before_after CHECK (
        CASE action
            WHEN 'created' THEN before IS NULL AND after IS NOT NULL
            WHEN 'updated' THEN before IS NOT NULL AND after IS NOT NULL
            ELSE before IS NOT NULL AND after IS NULL
        END
    ),
    -- Changes to a roster's parts carry the roster and the version they produced.
    CONSTRAINT roster_audit_roster_version CHECK (
        (entity IN ('org', 'person', 'contact_method', 'holiday_calendar'))
        OR (roster_id IS NOT NULL AND version IS NOT NULL)
    )
);
CREATE INDEX roster_audit_roster ON roster_audit (roster_id, id) WHERE roster_id IS NOT NULL;

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a correction as a new row instead.';
END;
$$;
CREATE TRIGGER roster_audit_append_only
    BEFORE UPDATE OR DELETE ON roster_audit
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER roster_audit_no_truncate
    BEFORE TRUNCATE ON roster_audit
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Carry explicit shifts of a database made before rosters into rosters, then drop
-- duty_shifts: each shift becomes an override (an explicit duty, wins over layers) on the
-- roster of its organisation, in the lowest slot free at its start, so overlapping shifts
-- of one role land in different slots. A fresh database has no shifts and nothing happens.
DO $$
DECLARE
    shift record;
    target bigint;
    chosen integer;
    slot_ends timestamptz[];
    last_key text := '';
    migrated timestamptz := now();
BEGIN
    FOR shift IN
        SELECT s.org_path, s.role, s.person_id, s.starts_at, s.ends_at, o.tz
        FROM duty_shifts s JOIN orgs o ON o.path = s.org_path
        ORDER BY s.org_path, s.role, s.starts_at, s.id
    LOOP
        INSERT INTO rosters (org_path, name, tz, created_by, created_at, updated_at)
        VALUES (shift.org_path, 'migrated from duty_shifts', shift.tz,
                'system:migration-0002', migrated, migrated)
        ON CONFLICT (org_path) DO NOTHING;
        SELECT id INTO target FROM rosters WHERE org_path = shift.org_path;
        IF last_key <> shift.org_path || '/' || shift.role THEN
            last_key := shift.org_path || '/' || shift.role;
            slot_ends := ARRAY[]::timestamptz[];
        END IF;
        chosen := NULL;
        FOR i IN 1 .. coalesce(array_length(slot_ends, 1), 0) LOOP
            IF slot_ends[i] <= shift.starts_at THEN
                chosen := i;
                EXIT;
            END IF;
        END LOOP;
        IF chosen IS NULL THEN
            slot_ends := slot_ends || shift.ends_at;
            chosen := array_length(slot_ends, 1);
        ELSE
            slot_ends[chosen] := shift.ends_at;
        END IF;
        INSERT INTO roster_slots (roster_id, role, people)
        VALUES (target, shift.role::roster_role, chosen)
        ON CONFLICT (roster_id, role) DO UPDATE
            SET people = greatest(roster_slots.people, excluded.people);
        INSERT INTO roster_overrides
            (roster_id, role, slot, person_id, starts_at, ends_at, reason, created_by, created_at)
        VALUES (target, shift.role::roster_role, chosen - 1, shift.person_id, shift.starts_at,
                shift.ends_at, 'migrated from duty_shifts', 'system:migration-0002', migrated);
    END LOOP;
    -- Every migrated roster asks for both statutory roles, even if only one had shifts.
    INSERT INTO roster_slots (roster_id, role, people)
    SELECT r.id, role, 1
    FROM rosters r CROSS JOIN unnest(ARRAY['duty_officer', 'leader_on_duty']::roster_role[]) AS role
    ON CONFLICT DO NOTHING;
    INSERT INTO roster_audit
        (at, actor, source, entity, entity_id, action, roster_id, org_path, version, after)
    SELECT migrated, 'system:migration-0002', 'system', 'roster', r.id::text, 'created', r.id,
           r.org_path, 1, jsonb_build_object('id', r.id, 'org', r.org_path, 'name', r.name)
    FROM rosters r;
END;
$$;

DROP TABLE duty_shifts;
