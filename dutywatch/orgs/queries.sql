-- name: known_orgs :many
SELECT path FROM orgs WHERE path = ANY($1::text[]);

-- name: list_orgs :many
SELECT path, name, parent_path, admin_code, tz FROM orgs ORDER BY path;

-- name: insert_org :exec
INSERT INTO orgs (path, name, parent_path, admin_code, tz) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (path) DO NOTHING;

-- name: insert_person :exec
INSERT INTO people (id, name, org_path, phone) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO NOTHING;

-- name: org :one
SELECT path, name, parent_path, admin_code, tz FROM orgs WHERE path = $1;

-- name: create_org :exec
INSERT INTO orgs (path, name, parent_path, admin_code, tz) VALUES ($1, $2, $3, $4, $5);

-- name: update_org :exec
UPDATE orgs SET name = $2, admin_code = $3, tz = $4 WHERE path = $1;

-- name: delete_org :exec
DELETE FROM orgs WHERE path = $1;

-- name: person :one
SELECT id, name, org_path, phone FROM people WHERE id = $1;

-- name: list_people :many
-- People of an organisation and below (everyone when $1 is NULL).
SELECT id, name, org_path, phone FROM people
WHERE $1::text IS NULL OR org_path = $1 OR org_path LIKE $1 || '.%'
ORDER BY org_path, id;

-- name: create_person :exec
INSERT INTO people (id, name, org_path, phone) VALUES ($1, $2, $3, $4);

-- name: update_person :exec
UPDATE people SET name = $2, org_path = $3, phone = $4 WHERE id = $1;

-- name: delete_person :exec
DELETE FROM people WHERE id = $1;

-- name: contacts_of :many
SELECT id, person_id, kind, address, priority FROM contact_methods
WHERE person_id = $1 ORDER BY priority, id;

-- name: contact :one
SELECT id, person_id, kind, address, priority FROM contact_methods WHERE id = $1 AND person_id = $2;

-- name: create_contact :val
INSERT INTO contact_methods (person_id, kind, address, priority) VALUES ($1, $2, $3, $4)
RETURNING id;

-- name: update_contact :exec
UPDATE contact_methods SET kind = $3, address = $4, priority = $5 WHERE id = $1 AND person_id = $2;

-- name: delete_contact :exec
DELETE FROM contact_methods WHERE id = $1 AND person_id = $2;
