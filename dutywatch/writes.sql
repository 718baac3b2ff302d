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

-- name: insert_reports :exec
-- Column arrays, one element per row (Queries.exec_columns): one statement for a batch.
INSERT INTO reports (report_id, incident_id, stage, sequence, source, subject, received_at, payload)
SELECT report_id, incident_id, stage, sequence, source, subject, received_at, payload::jsonb
FROM unnest($1::uuid[], $2::bigint[], $3::text[], $4::integer[], $5::text[], $6::text[],
            $7::timestamptz[], $8::text[])
    AS r (report_id, incident_id, stage, sequence, source, subject, received_at, payload);

-- name: insert_entries :exec
INSERT INTO timeline_entries
    (incident_id, seq, kind, at, actor, source, body, personal_digest, prev_hash, hash)
SELECT incident_id, seq, kind::timeline_kind, at, actor, source, body::jsonb, personal_digest,
       prev_hash, hash
FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
            $7::text[], $8::bytea[], $9::bytea[], $10::bytea[])
    AS e (incident_id, seq, kind, at, actor, source, body, personal_digest, prev_hash, hash);

-- name: insert_personal :exec
INSERT INTO personal_data (incident_id, seq, salt, data) VALUES ($1, $2, $3, $4);

-- name: insert_pages :exec
INSERT INTO pages
    (id, incident_id, person_id, role, org_path, reason, step, policy_version, created_at,
     alert_id)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::integer[], $8::text[], $9::timestamptz[], $10::bigint[]);

-- name: insert_timers :exec
INSERT INTO timers
    (incident_id, kind, step, due_at, created_at, handover_id, alert_id, org_path)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::timestamptz[],
                     $5::timestamptz[], $6::bigint[], $7::bigint[], $8::text[]);

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

-- name: enqueue_all :exec
-- In the order given (ORDER BY the element's position): the relay publishes by id.
INSERT INTO outbox (subject, payload, created_at)
SELECT subject, payload, created_at
FROM unnest($1::text[], $2::bytea[], $3::timestamptz[]) WITH ORDINALITY
    AS m (subject, payload, created_at, position)
ORDER BY position;

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
