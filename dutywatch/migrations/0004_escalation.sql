-- Escalation policies per organisation, one alert per duty room an incident reaches,
-- statutory reporting clocks (phone and written), daily zero reports, and the timers that
-- drive them (issue 4). Numbered 0004: 0002 belongs to the rosters branch.

-- The backfills below write rows with deferrable foreign keys; checking them at once leaves
-- no pending trigger events to block the ALTER TABLEs that follow (this transaction only).
SET CONSTRAINTS ALL IMMEDIATE;

-- Mirrors dutywatch.timeline.EntryKind; each value names the transition it records.
ALTER TYPE timeline_kind ADD VALUE 'alert_opened';        -- a linked alert opened in a parent, skip-level or peer duty room
ALTER TYPE timeline_kind ADD VALUE 'clock_started';       -- a statutory reporting clock (phone or written) started or was tightened
ALTER TYPE timeline_kind ADD VALUE 'report_late';         -- 迟报: a reporting clock ran out, or a report was submitted after it
ALTER TYPE timeline_kind ADD VALUE 'signed_off';          -- 签发: a leader signed the written report off; written clocks stop
ALTER TYPE timeline_kind ADD VALUE 'fields_omitted';      -- 漏报: required items still missing when the written report was signed
ALTER TYPE timeline_kind ADD VALUE 'reminder_sent';       -- 催办: a reminder that a report falls due
ALTER TYPE timeline_kind ADD VALUE 'zero_report_missing'; -- a subordinate room's daily zero report was missing at its due time
ALTER TYPE timeline_kind ADD VALUE 'forwarded';           -- a report sent to the wrong office was forwarded; clocks keep running

-- Versioned escalation policies. A change is a new version; the highest version of an id
-- that is not retired is in force. Running escalations keep the version that started them.
CREATE TABLE escalation_policies (
    id          text NOT NULL CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,47}$'),
    version     integer NOT NULL CHECK (version >= 1),
    org_path    text NOT NULL REFERENCES orgs (path),
    grades      text[] NOT NULL CHECK (cardinality(grades) >= 1
                                       AND grades <@ ARRAY['I', 'II', 'III', 'IV']),
    categories  text[] NOT NULL CHECK (cardinality(categories) >= 1),
    -- [{"kind": "notify_role", "role": "duty_officer", "delay": "PT0S"}, ...]
    steps       jsonb NOT NULL CHECK (jsonb_typeof(steps) = 'array'),
    created_at  timestamptz NOT NULL,
    created_by  text NOT NULL,
    retired_at  timestamptz,
    PRIMARY KEY (id, version)
);
CREATE INDEX escalation_policies_org ON escalation_policies (org_path);

-- One alert per duty room an incident reaches: the origin room's, and each linked alert
-- opened in a parent, skip-level or peer room (by a policy step or by the statutory
-- reporting rules). Each runs its own policy; the cursor is policy.EscalationState.
CREATE TABLE alerts (
    id              bigserial PRIMARY KEY,
    incident_id     bigint NOT NULL REFERENCES incidents (id) DEFERRABLE INITIALLY DEFERRED,
    org_path        text NOT NULL REFERENCES orgs (path),
    parent_alert_id bigint REFERENCES alerts (id) DEFERRABLE INITIALLY DEFERRED,
    opened_reason   text NOT NULL CHECK (opened_reason IN (
                        'incident_opened',  -- the origin room's alert
                        'policy_step',      -- NotifyParent / NotifyDutyRoom of a policy
                        'statutory',        -- grade III+ (parent) or I/II / sensitive (to the top)
                        'deadline_missed'   -- a reporting clock to this room ran out
                    )),
    -- id@vN of the policy version driving this alert (policy.Policy.ref)
    policy_ref      text NOT NULL,
    started_at      timestamptz NOT NULL,
    cursor_repeat   integer NOT NULL DEFAULT 0 CHECK (cursor_repeat >= 0),
    cursor_step     integer NOT NULL DEFAULT 0 CHECK (cursor_step >= 0),
    acknowledged_at timestamptz,
    acknowledged_by text,
    created_at      timestamptz NOT NULL,
    UNIQUE (incident_id, org_path),
    CHECK ((acknowledged_at IS NULL) = (acknowledged_by IS NULL))
);

-- Spine incidents still escalating get their origin alert, running the default policy the
-- spine ran (officer, then leader after the same timeout; the default adds the parent room).
INSERT INTO alerts (incident_id, org_path, opened_reason, policy_ref, started_at,
                    cursor_step, acknowledged_at, acknowledged_by, created_at)
SELECT i.id, i.org_path, 'incident_opened',
       'default-' || i.grade || '-'
           || substring(i.policy_version FROM '^spine-1:[IV]+:([0-9.]+)s$') || 's'
           || CASE WHEN position('.' IN i.org_path) = 0 THEN '-top' ELSE '' END || '@v1',
       i.policy_started_at, i.policy_fired, i.acknowledged_at, i.acknowledged_by, now()
FROM incidents i
WHERE i.state <> 'resolved' AND i.policy_started_at IS NOT NULL
  AND i.policy_version ~ '^spine-1:[IV]+:[0-9.]+s$';

ALTER TABLE pages ADD COLUMN alert_id bigint REFERENCES alerts (id) DEFERRABLE INITIALLY DEFERRED;

-- Statutory reporting clocks (deadlines.rules.Clock): one per (target room, kind) and
-- grade; an upgrade may tighten a running one or add new ones.
CREATE TABLE report_clocks (
    id          bigserial PRIMARY KEY,
    incident_id bigint NOT NULL REFERENCES incidents (id) DEFERRABLE INITIALLY DEFERRED,
    target_org  text NOT NULL REFERENCES orgs (path),
    kind        text NOT NULL CHECK (kind IN ('phone', 'written')),
    grade       text NOT NULL CHECK (grade IN ('I', 'II', 'III', 'IV')),
    -- ids of the deadline table rows that set due_at
    rules       text[] NOT NULL,
    opened_at   timestamptz NOT NULL,
    due_at      timestamptz NOT NULL,
    stopped_at  timestamptz,
    missed_at   timestamptz,
    -- 迟报: how late the report was (at submission), or how late when the miss was recorded
    late_by     interval
);
CREATE INDEX report_clocks_incident ON report_clocks (incident_id, id);
CREATE INDEX report_clocks_running ON report_clocks (due_at) WHERE stopped_at IS NULL;

ALTER TABLE incidents ADD COLUMN learned_at timestamptz;  -- 接报时间 of the reporting office
ALTER TABLE incidents ADD COLUMN skip_to text REFERENCES orgs (path);  -- 越级上报 target

-- Daily zero reports (零报告): "nothing to report" allowed; the first one of a day counts.
CREATE TABLE zero_reports (
    org_path    text NOT NULL REFERENCES orgs (path),
    day         date NOT NULL,
    received_at timestamptz NOT NULL,
    report_id   uuid NOT NULL UNIQUE,
    actor       text NOT NULL,
    PRIMARY KEY (org_path, day)
);

ALTER TABLE alarms DROP CONSTRAINT alarms_kind_check;
ALTER TABLE alarms ADD CONSTRAINT alarms_kind_check
    CHECK (kind IN ('handover_overdue', 'roster_gap', 'zero_report_missing'));

-- Timers: exactly one subject each. An escalation timer's subject is an alert (it also names
-- the alert's incident, so resolving cancels it with the incident's other timers); deadline and
-- follow-up timers belong to an incident, handover timers to a handover, zero-report timers to
-- a parent duty room. Escalation timers of the spine, all no longer pending, have no alert.
ALTER TABLE timers ADD COLUMN alert_id bigint REFERENCES alerts (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE timers ADD COLUMN org_path text REFERENCES orgs (path);
UPDATE timers t SET alert_id = a.id
FROM alerts a
WHERE t.kind = 'escalation' AND a.incident_id = t.incident_id
  AND t.fired_at IS NULL AND t.cancelled_at IS NULL;
UPDATE timers SET cancelled_at = now()
WHERE kind = 'escalation' AND alert_id IS NULL AND fired_at IS NULL AND cancelled_at IS NULL;
ALTER TABLE timers DROP CONSTRAINT timers_kind_check;
ALTER TABLE timers ADD CONSTRAINT timers_kind_check CHECK (
    (kind = 'escalation' AND incident_id IS NOT NULL AND handover_id IS NULL AND org_path IS NULL
        AND (alert_id IS NOT NULL OR fired_at IS NOT NULL OR cancelled_at IS NOT NULL))
    OR (kind = 'handover' AND handover_id IS NOT NULL
        AND incident_id IS NULL AND alert_id IS NULL AND org_path IS NULL)
    OR (kind IN ('deadline', 'follow_up') AND incident_id IS NOT NULL
        AND alert_id IS NULL AND handover_id IS NULL AND org_path IS NULL)
    OR (kind = 'zero_report' AND org_path IS NOT NULL
        AND incident_id IS NULL AND alert_id IS NULL AND handover_id IS NULL)
);
CREATE INDEX timers_alert ON timers (alert_id) WHERE fired_at IS NULL AND cancelled_at IS NULL;
-- One pending zero-report timer per parent duty room, however many replicas arm it.
CREATE UNIQUE INDEX timers_zero_report_pending ON timers (org_path)
    WHERE kind = 'zero_report' AND fired_at IS NULL AND cancelled_at IS NULL;
