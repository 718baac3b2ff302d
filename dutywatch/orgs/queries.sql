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
