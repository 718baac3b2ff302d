-- Supervision (督办, issue 10): leaders' instructions assigned to units, chased by a
-- supervisor, reported back, verified and looked back at (回头看).
ALTER TYPE timeline_kind ADD VALUE 'assigned';              -- an instruction's assignment given to a unit
ALTER TYPE timeline_kind ADD VALUE 'assignment_accepted';   -- the unit took the assignment on
ALTER TYPE timeline_kind ADD VALUE 'assignment_started';    -- the unit is carrying it out
ALTER TYPE timeline_kind ADD VALUE 'feedback_reported';     -- 反馈: the unit reported back
ALTER TYPE timeline_kind ADD VALUE 'feedback_verified';     -- the supervisor accepted the feedback
ALTER TYPE timeline_kind ADD VALUE 'feedback_sent_back';    -- the supervisor refused it: reason, new due date
ALTER TYPE timeline_kind ADD VALUE 'assignment_closed';     -- done (a re-check may be scheduled)
ALTER TYPE timeline_kind ADD VALUE 'supervision_reminded';  -- 催办: a reminder to the unit (and its leader)
ALTER TYPE timeline_kind ADD VALUE 'recheck_requested';     -- 回头看: the supervisor was asked to re-check
ALTER TYPE timeline_kind ADD VALUE 'recheck_answered';      -- 二次反馈: the re-check's answer
ALTER TYPE timeline_kind ADD VALUE 'assignment_reopened';   -- a failed re-check reopened the assignment

-- An instruction (批示) on an incident, or standing alone for a matter from elsewhere. A
-- standalone matter keeps its own chain (supervision_entries) with its head here; an
-- instruction on an incident is chained on the incident's timeline and leaves these at 0.
CREATE TABLE supervision_instructions (
    id            bigserial PRIMARY KEY,
    incident_id   bigint REFERENCES incidents (id),
    org_path      text NOT NULL REFERENCES orgs (path),   -- the office that assigned
    text          text NOT NULL,
    leader        text NOT NULL,
    given_at      timestamptz NOT NULL,
    actor         text NOT NULL,
    timeline_seq  integer NOT NULL DEFAULT 0,
    timeline_head bytea NOT NULL DEFAULT ''
);
CREATE INDEX supervision_instructions_incident ON supervision_instructions (incident_id);

CREATE TABLE supervision_assignments (
    id               bigserial PRIMARY KEY,
    instruction_id   bigint NOT NULL REFERENCES supervision_instructions (id),
    unit             text NOT NULL REFERENCES orgs (path),
    responsible      text NOT NULL REFERENCES people (id),
    supervisor       text NOT NULL REFERENCES people (id),
    state            text NOT NULL CHECK (state IN ('assigned', 'accepted', 'in_progress',
                         'reported', 'sent_back', 'verified', 'closed')),
    due_at           timestamptz NOT NULL,
    first_due_at     timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    clock_started_at timestamptz NOT NULL,
    reminders        integer NOT NULL DEFAULT 0 CHECK (reminders >= 0),
    reminded_at      timestamptz,
    verified_at      timestamptz,
    closed_at        timestamptz,
    recheck_at       timestamptz
);
CREATE INDEX supervision_assignments_unit ON supervision_assignments (unit) WHERE state <> 'closed';
CREATE INDEX supervision_assignments_supervisor ON supervision_assignments (supervisor)
    WHERE state <> 'closed';
CREATE INDEX supervision_assignments_instruction ON supervision_assignments (instruction_id);

-- Every step of an assignment (append-only), with what came with it: feedback text and
-- attachments' metadata, a send-back's reason and new due date, whether a verification was
-- in time. The figures are computed from these rows.
CREATE TABLE supervision_events (
    id            bigserial PRIMARY KEY,
    assignment_id bigint NOT NULL REFERENCES supervision_assignments (id),
    action        text NOT NULL,
    from_state    text,
    to_state      text NOT NULL,
    at            timestamptz NOT NULL,
    actor         text NOT NULL,
    body          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX supervision_events_assignment ON supervision_events (assignment_id, id);

-- 回头看: a re-check scheduled when closing; asked at due_at, answered by the supervisor.
CREATE TABLE supervision_rechecks (
    id            bigserial PRIMARY KEY,
    assignment_id bigint NOT NULL REFERENCES supervision_assignments (id),
    due_at        timestamptz NOT NULL,
    asked_at      timestamptz,
    answered_at   timestamptz,
    holds         boolean,
    text          text,
    attachments   jsonb NOT NULL DEFAULT '[]',
    answered_by   text,
    CHECK ((answered_at IS NULL) = (holds IS NULL))
);
CREATE UNIQUE INDEX supervision_rechecks_pending ON supervision_rechecks (assignment_id)
    WHERE answered_at IS NULL;

-- The chain of a standalone matter: the same entries and hashes as timeline_entries, keyed
-- by instruction; append-only like the incidents' timeline.
CREATE TABLE supervision_entries (
    instruction_id bigint NOT NULL REFERENCES supervision_instructions (id),
    seq            integer NOT NULL CHECK (seq >= 1),
    kind           timeline_kind NOT NULL,
    at             timestamptz NOT NULL,
    actor          text NOT NULL,
    source         text NOT NULL,
    body           jsonb NOT NULL,
    prev_hash      bytea NOT NULL,
    hash           bytea NOT NULL,
    PRIMARY KEY (instruction_id, seq)
);
CREATE FUNCTION supervision_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER supervision_entries_append_only
    BEFORE UPDATE OR DELETE ON supervision_entries
    FOR EACH ROW EXECUTE FUNCTION supervision_refuse_change();
CREATE TRIGGER supervision_entries_no_truncate
    BEFORE TRUNCATE ON supervision_entries
    FOR EACH STATEMENT EXECUTE FUNCTION supervision_refuse_change();
-- The steps of assignments are a record too: never edited, never removed.
CREATE TRIGGER supervision_events_append_only
    BEFORE UPDATE OR DELETE ON supervision_events
    FOR EACH ROW EXECUTE FUNCTION supervision_refuse_change();

-- Reminders (kind 'supervision') and re-checks ('supervision_recheck') belong to an
-- assignment, not to its incident: resolving the incident does not stop the chasing.
ALTER TABLE timers ADD COLUMN assignment_id bigint REFERENCES supervision_assignments (id);
ALTER TABLE timers DROP CONSTRAINT timers_kind_check;
ALTER TABLE timers ADD CONSTRAINT timers_kind_check CHECK (
    (kind = 'escalation' AND incident_id IS NOT NULL AND handover_id IS NULL AND org_path IS NULL
        AND assignment_id IS NULL
        AND (alert_id IS NOT NULL OR fired_at IS NOT NULL OR cancelled_at IS NOT NULL))
    OR (kind = 'handover' AND handover_id IS NOT NULL AND assignment_id IS NULL
        AND incident_id IS NULL AND alert_id IS NULL AND org_path IS NULL)
    OR (kind IN ('deadline', 'follow_up') AND incident_id IS NOT NULL AND assignment_id IS NULL
        AND alert_id IS NULL AND handover_id IS NULL AND org_path IS NULL)
    OR (kind = 'zero_report' AND org_path IS NOT NULL AND assignment_id IS NULL
        AND incident_id IS NULL AND alert_id IS NULL AND handover_id IS NULL)
    OR (kind IN ('supervision', 'supervision_recheck') AND assignment_id IS NOT NULL
        AND incident_id IS NULL AND alert_id IS NULL AND handover_id IS NULL AND org_path IS NULL)
);
CREATE INDEX timers_assignment ON timers (assignment_id)
    WHERE fired_at IS NULL AND cancelled_at IS NULL;

-- A standalone matter's reminders go out as alarms (there is no incident to page for).
ALTER TABLE alarms DROP CONSTRAINT alarms_kind_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_kind_check
    CHECK (kind IN ('handover_overdue', 'roster_gap', 'zero_report_missing', 'supervision'));
