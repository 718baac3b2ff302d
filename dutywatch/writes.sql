-- name: insert_incident :exec
INSERT INTO incidents (
    id, org_path, incident_ref, state, grade, category, title, status, sensitive,
    first_report_missing, occurred_at, opened_at, last_report_at, reports_count,
    policy_version, policy_started_at, policy_fired, acknowledged_at, acknowledged_by,
    resolved_at, resolved_by, timeline_seq, timeline_head, learned_at, skip_to,
    responsible_org
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
          $19, $20, $21, $22, $23, $24, $25, $26);

-- name: update_incident :exec
-- org_path, incident_ref, category, occurred_at, opened_at and learned_at never change.
UPDATE incidents SET
    state = $2, grade = $3, title = $4, status = $5, sensitive = $6,
    first_report_missing = $7, last_report_at = $8, reports_count = $9,
    policy_version = $10, policy_started_at = $11, policy_fired = $12,
    acknowledged_at = $13, acknowledged_by = $14, resolved_at = $15, resolved_by = $16,
    timeline_seq = $17, timeline_head = $18, skip_to = $19, responsible_org = $20
WHERE id = $1;

-- name: insert_report :exec
INSERT INTO reports (report_id, incident_id, stage, sequence, source, subject, received_at, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: insert_entry :exec
INSERT INTO timeline_entries
    (incident_id, seq, kind, at, actor, source, body, personal_digest, prev_hash, hash)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: insert_personal :exec
INSERT INTO personal_data (incident_id, seq, salt, data) VALUES ($1, $2, $3, $4);

-- name: insert_page :exec
INSERT INTO pages
    (id, incident_id, person_id, role, org_path, reason, step, policy_version, created_at,
     alert_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: insert_timer :exec
INSERT INTO timers
    (incident_id, kind, step, due_at, created_at, handover_id, alert_id, org_path)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: insert_alarm :exec
INSERT INTO alarms (id, kind, org_path, person_id, role, title, handover_id, detail, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9);

-- name: cancel_timers_of :exec
UPDATE timers SET cancelled_at = $2
WHERE incident_id = ANY($1::bigint[]) AND fired_at IS NULL AND cancelled_at IS NULL;

-- name: cancel_handover_timers :exec
UPDATE timers SET cancelled_at = $2
WHERE handover_id = ANY($1::bigint[]) AND fired_at IS NULL AND cancelled_at IS NULL;

-- name: mark_timers_fired :exec
UPDATE timers SET fired_at = $2 WHERE id = ANY($1::bigint[]);

-- name: enqueue :exec
INSERT INTO outbox (subject, payload, created_at) VALUES ($1, $2, $3);

-- name: insert_alert :exec
-- The incident is locked, so its alerts are known; DO NOTHING is the last guard of
-- "one alert per duty room per incident".
INSERT INTO alerts
    (id, incident_id, org_path, parent_alert_id, opened_reason, policy_ref, started_at,
     cursor_repeat, cursor_step, acknowledged_at, acknowledged_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (incident_id, org_path) DO NOTHING;

-- name: update_alert :exec
UPDATE alerts SET
    policy_ref = $2, started_at = $3, cursor_repeat = $4, cursor_step = $5,
    acknowledged_at = $6, acknowledged_by = $7
WHERE id = $1;

-- name: cancel_alert_timers :exec
UPDATE timers SET cancelled_at = $2
WHERE alert_id = ANY($1::bigint[]) AND fired_at IS NULL AND cancelled_at IS NULL;

-- name: cancel_incident_timers_of_kind :exec
UPDATE timers SET cancelled_at = $3
WHERE incident_id = ANY($1::bigint[]) AND kind = $2 AND fired_at IS NULL AND cancelled_at IS NULL;

-- name: insert_clock :exec
INSERT INTO report_clocks
    (id, incident_id, target_org, kind, grade, rules, opened_at, due_at, stopped_at, missed_at,
     late_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11);

-- name: update_clock :exec
UPDATE report_clocks SET
    grade = $2, rules = $3, opened_at = $4, due_at = $5, stopped_at = $6, missed_at = $7,
    late_by = $8
WHERE id = $1;
