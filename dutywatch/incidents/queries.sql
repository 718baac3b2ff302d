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

-- name: known_report_ids :many
SELECT report_id FROM reports WHERE report_id = ANY($1::uuid[]);

-- name: list_incidents :many
-- Newest first, optionally only within an organisation subtree (as the receiving office, or
-- as the office a report was forwarded to) and one state.
SELECT * FROM incidents
WHERE ($1::text IS NULL OR org_path = $1 OR org_path LIKE $1 || '.%'
       OR responsible_org = $1 OR responsible_org LIKE $1 || '.%')
  AND ($2::incident_state IS NULL OR state = $2)
ORDER BY opened_at DESC, id DESC
LIMIT $3;

-- name: reports_of :many
SELECT report_id, stage, sequence, source, received_at, payload
FROM reports WHERE incident_id = $1 ORDER BY received_at, report_id;

-- name: pages_of :many
SELECT id, person_id, role, org_path, reason, step, policy_version, created_at
FROM pages WHERE incident_id = $1 ORDER BY id;

-- name: recorded_command :one
SELECT result FROM commands WHERE command_id = $1;

-- name: record_command :exec
INSERT INTO commands (command_id, verb, incident_id, actor, at, result)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: lock_incidents :many
-- Rows of these incidents, locked in id order (the order every transaction locks them in).
SELECT * FROM incidents WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE;
