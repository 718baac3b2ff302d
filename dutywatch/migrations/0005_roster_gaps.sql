-- Roster gaps (值班空档) found ahead of time: one row per gap, so each raises one alarm
-- however many replicas run the check and however often.

CREATE TABLE roster_gaps (
    id        bigserial PRIMARY KEY,
    roster_id bigint NOT NULL REFERENCES rosters (id) ON DELETE CASCADE,
    org_path  text NOT NULL REFERENCES orgs (path),
    role      roster_role NOT NULL,
    slot      integer NOT NULL CHECK (slot >= 0),
    starts_at timestamptz NOT NULL,
    ends_at   timestamptz NOT NULL CHECK (ends_at > starts_at),
    found_at  timestamptz NOT NULL,
    -- Overlapping rows of one slot are merged by the check (under an advisory lock).
    UNIQUE (roster_id, role, slot, starts_at)
);
CREATE INDEX roster_gaps_roster ON roster_gaps (roster_id, starts_at);

ALTER TABLE alarms ADD COLUMN roster_id bigint REFERENCES rosters (id) ON DELETE SET NULL;
