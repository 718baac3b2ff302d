-- name: next_handover_id :val
SELECT nextval(pg_get_serial_sequence('handovers', 'id'));

-- name: lock_open_incidents_of_duty_room :many
-- Open incidents this duty room was paged for, locked in id order (as intake locks them).
SELECT i.* FROM incidents i
WHERE i.state <> 'resolved'
  AND EXISTS (SELECT 1 FROM pages p WHERE p.incident_id = i.id AND p.org_path = $1)
ORDER BY i.id
FOR UPDATE OF i;

-- name: lock_incidents :many
SELECT * FROM incidents WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE;

-- name: insert_handover :exec
INSERT INTO handovers
    (id, org_path, outgoing_person, expected_incoming, note, open_items, created_at, due_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: lock_handover :one
SELECT * FROM handovers WHERE id = $1 FOR UPDATE;

-- name: lock_handover_nowait :one
SELECT * FROM handovers WHERE id = $1 FOR UPDATE SKIP LOCKED;

-- name: get_handover :one
SELECT * FROM handovers WHERE id = $1;

-- name: list_handovers :many
SELECT * FROM handovers WHERE org_path = $1 ORDER BY created_at DESC, id DESC LIMIT $2;

-- name: mark_accepted :exec
UPDATE handovers SET accepted_at = $2, accepted_by = $3, accept_note = $4 WHERE id = $1;

-- name: mark_overdue_paged :exec
UPDATE handovers SET overdue_paged_at = $2 WHERE id = $1;

-- name: person_exists :val
SELECT EXISTS (SELECT 1 FROM people WHERE id = $1);
