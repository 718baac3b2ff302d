-- name: shifts_at :many
-- Shifts of these organisations covering one instant.
SELECT org_path, role, person_id, starts_at, ends_at
FROM duty_shifts
WHERE org_path = ANY($1::text[]) AND starts_at <= $2 AND ends_at > $2;

-- name: insert_shift :exec
INSERT INTO duty_shifts (org_path, role, person_id, starts_at, ends_at) VALUES ($1, $2, $3, $4, $5);

-- name: person :one
SELECT id, name, org_path, phone FROM people WHERE id = $1;

-- name: on_duty_detail :many
-- Who holds each role of one organisation at one instant, with contact details.
SELECT s.role, s.person_id, p.name, p.phone, s.starts_at, s.ends_at
FROM duty_shifts s JOIN people p ON p.id = s.person_id
WHERE s.org_path = $1 AND s.starts_at <= $2 AND s.ends_at > $2
ORDER BY s.role, s.person_id;
