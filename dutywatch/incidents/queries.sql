-- name: lock_incidents_by_ref :many
-- Rows of the incidents these (org, ref) pairs name, locked in id order so concurrent
-- batches take locks in the same order.
SELECT i.*
FROM incidents i
JOIN unnest($1::text[], $2::text[]) AS k (org_path, incident_ref)
  ON i.org_path = k.org_path AND i.incident_ref = k.incident_ref
ORDER BY i.id
FOR UPDATE OF i;

-- name: lock_incident :one
SELECT * FROM incidents WHERE id = $1 FOR UPDATE;

-- name: get_incident :one
SELECT * FROM incidents WHERE id = $1;

-- name: next_incident_id :val
SELECT nextval(pg_get_serial_sequence('incidents', 'id'));

-- name: known_report_ids :many
SELECT report_id FROM reports WHERE report_id = ANY($1::uuid[]);

-- name: insert_incident :exec
INSERT INTO incidents (
    id, org_path, incident_ref, state, grade, category, title, status, sensitive,
    first_report_missing, occurred_at, opened_at, last_report_at, reports_count,
    policy_version, policy_started_at, policy_fired, timeline_seq, timeline_head
) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19);

-- name: update_incident :exec
UPDATE incidents SET
    state = $2, grade = $3, title = $4, sensitive = $5, last_report_at = $6,
    reports_count = $7, policy_version = $8, policy_started_at = $9, policy_fired = $10,
    acknowledged_at = $11, acknowledged_by = $12, resolved_at = $13, resolved_by = $14,
    timeline_seq = $15, timeline_head = $16
WHERE id = $1;

-- name: insert_report :exec
INSERT INTO reports (report_id, incident_id, stage, sequence, source, subject, received_at, payload)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: list_incidents :many
-- Newest first, optionally only within an organisation subtree and one state.
SELECT * FROM incidents
WHERE ($1::text IS NULL OR org_path = $1 OR org_path LIKE $1 || '.%')
  AND ($2::incident_state IS NULL OR state = $2)
ORDER BY opened_at DESC, id DESC
LIMIT $3;

-- name: reports_of :many
SELECT report_id, stage, sequence, source, received_at, payload
FROM reports WHERE incident_id = $1 ORDER BY received_at, report_id;

-- name: pages_of :many
SELECT id, person_id, role, org_path, reason, step, policy_version, created_at
FROM pages WHERE incident_id = $1 ORDER BY id;

-- name: insert_page :val
INSERT INTO pages (incident_id, person_id, role, org_path, reason, step, policy_version, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id;

-- name: recorded_command :one
SELECT result FROM commands WHERE command_id = $1;

-- name: record_command :exec
INSERT INTO commands (command_id, verb, incident_id, actor, at, result)
VALUES ($1, $2, $3, $4, $5, $6);
