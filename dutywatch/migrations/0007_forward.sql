-- Forwarding a report that reached an office not responsible for it (issue 4).
-- org_path stays the office that received it (its follow-ups still find the incident by
-- (org, incident_ref)); responsible_org is the room it was forwarded to (NULL = org_path).
ALTER TABLE incidents ADD COLUMN responsible_org text REFERENCES orgs (path);

-- The alert opened in the room a report was forwarded to. Mirrors escalation.alerts.OpenedReason.
ALTER TABLE alerts DROP CONSTRAINT alerts_opened_reason_check;
ALTER TABLE alerts ADD CONSTRAINT alerts_opened_reason_check CHECK (opened_reason IN (
    'incident_opened',  -- the origin room's alert
    'policy_step',      -- NotifyParent / NotifyDutyRoom of a policy
    'statutory',        -- grade III+ (parent) or I/II / sensitive (to the top)
    'deadline_missed',  -- a reporting clock to this room ran out
    'forwarded'         -- the report was forwarded to this room (the responsible office)
));
