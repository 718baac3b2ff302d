-- Handover (交接班) between duty officers, and alarms of a duty room that are not about
-- one incident (an unaccepted handover; later: roster gaps, missing zero reports).

-- Mirrors dutywatch.timeline.EntryKind.
ALTER TYPE timeline_kind ADD VALUE 'handed_over';        -- carried into a handover by the outgoing officer
ALTER TYPE timeline_kind ADD VALUE 'handover_accepted';  -- the incoming officer took the handover over

CREATE TABLE handovers (
    id                bigserial PRIMARY KEY,
    org_path          text NOT NULL REFERENCES orgs (path),
    outgoing_person   text NOT NULL REFERENCES people (id),
    expected_incoming text REFERENCES people (id),
    note              text NOT NULL,
    -- The open incidents carried, with their state at handover time.
    open_items        jsonb NOT NULL,
    created_at        timestamptz NOT NULL,
    due_at            timestamptz NOT NULL,
    accepted_at       timestamptz,
    accepted_by       text REFERENCES people (id),
    accept_note       text,
    overdue_paged_at  timestamptz,
    CHECK (accepted_by IS NULL OR accepted_by <> outgoing_person)
);
CREATE INDEX handovers_org ON handovers (org_path, created_at DESC);

CREATE TABLE alarms (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('handover_overdue', 'roster_gap')),
    org_path    text NOT NULL REFERENCES orgs (path),
    person_id   text NOT NULL REFERENCES people (id),
    role        text NOT NULL,
    title       text NOT NULL,
    handover_id bigint REFERENCES handovers (id),
    detail      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL
);
CREATE INDEX alarms_org ON alarms (org_path, created_at DESC);

-- Timers now also wake overdue handovers: exactly one subject per timer.
ALTER TABLE timers ALTER COLUMN incident_id DROP NOT NULL;
ALTER TABLE timers ADD COLUMN handover_id bigint REFERENCES handovers (id);
ALTER TABLE timers DROP CONSTRAINT timers_kind_check;
ALTER TABLE timers ADD CONSTRAINT timers_kind_check CHECK (
    (kind = 'escalation' AND incident_id IS NOT NULL AND handover_id IS NULL)
    OR (kind = 'handover' AND handover_id IS NOT NULL AND incident_id IS NULL)
);
