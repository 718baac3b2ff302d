-- Tamper evidence beyond the per-incident chain (daily anchors) and the destruction of
-- personal data after the response (Emergency Response Law Art. 85), issue 5.

ALTER TYPE timeline_kind ADD VALUE 'personal_data_purged'; -- personal data of the incident destroyed (by hand or by the retention rule)
ALTER TYPE timeline_kind ADD VALUE 'retention_held';       -- a hold keeps the personal data past the retention rule
ALTER TYPE timeline_kind ADD VALUE 'retention_released';   -- the hold was lifted; the retention rule applies again

-- Entries of one UTC day, found by time when a day is anchored and verified.
CREATE INDEX timeline_entries_at ON timeline_entries (at);

-- One anchor per UTC day: the head (last seq and its hash) of every incident chain with
-- entries that day, a SHA-256 digest over their canonical encoding, and the previous
-- anchor's hash, so the anchors form their own chain (see dutywatch/timeline/anchors.py).
-- Days without entries get an anchor with an empty list: the chain has no holes.
CREATE TABLE timeline_anchors (
    day         date PRIMARY KEY,
    heads       jsonb NOT NULL,
    digest      bytea NOT NULL,
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL
);

-- One refusal for append-only tables from here on (it names the table), instead of one
-- function per table as in 0001 and 0002.
CREATE FUNCTION refuse_change_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Rows of this table are never changed; run `dutywatch verify`.';
END;
$$;
CREATE TRIGGER timeline_anchors_append_only
    BEFORE UPDATE OR DELETE ON timeline_anchors
    FOR EACH ROW EXECUTE FUNCTION refuse_change_append_only();
CREATE TRIGGER timeline_anchors_no_truncate
    BEFORE TRUNCATE ON timeline_anchors
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_append_only();

-- Retention holds in force: one per incident. The history (who held, who released, why)
-- is on the incident's timeline (retention_held / retention_released).
CREATE TABLE retention_holds (
    incident_id bigint PRIMARY KEY REFERENCES incidents (id),
    reason      text NOT NULL,
    held_by     text NOT NULL,
    held_at     timestamptz NOT NULL
);

-- The retention worker looks for resolved incidents that still hold personal data.
CREATE INDEX incidents_resolved_at ON incidents (resolved_at) WHERE state = 'resolved';

-- Reports stay as received, but for the one change Art. 85 requires: a purge strips the
-- personal fields from the payload. Any other UPDATE is refused (the service role may
-- update only the payload column, see deploy/postgresql/grants.sql).
CREATE FUNCTION reports_purge_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.payload = OLD.payload - ARRAY['reporter', 'commander', 'leaders_on_scene']
       AND (NEW.report_id, NEW.incident_id, NEW.stage, NEW.sequence, NEW.source, NEW.subject,
            NEW.received_at)
           IS NOT DISTINCT FROM
           (OLD.report_id, OLD.incident_id, OLD.stage, OLD.sequence, OLD.source, OLD.subject,
            OLD.received_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'reports are kept as received: only the personal fields may be purged'
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Use `dutywatch purge --incident ID` to destroy personal data.';
END;
$$;
CREATE TRIGGER reports_purge_only
    BEFORE UPDATE ON reports
    FOR EACH ROW EXECUTE FUNCTION reports_purge_only();
