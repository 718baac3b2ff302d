-- name: rosters_by :many
-- Rosters by id ($1) or by organisation ($2), each with its parts as JSON: slots, removed
-- people, rotations (with members in order), layers, the overrides overlapping [$3, $4)
-- (with the swap each belongs to) and its calendar's days from $5 to $6.
SELECT
    r.id, r.org_path, r.name, r.tz, r.calendar_id, r.version,
    r.created_by, r.created_at, r.updated_at,
    (SELECT coalesce(jsonb_object_agg(s.role, s.people), '{}'::jsonb)
     FROM roster_slots s WHERE s.roster_id = r.id) AS slots,
    (SELECT coalesce(array_agg(x.person_id ORDER BY x.person_id), '{}'::text[])
     FROM roster_removed x WHERE x.roster_id = r.id) AS removed,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', t.id, 'name', t.name, 'shift_seconds', t.shift_seconds,
                'handoff', t.handoff, 'start_date', t.start_date,
                'people', (SELECT coalesce(jsonb_agg(m.person_id ORDER BY m.position), '[]'::jsonb)
                           FROM rotation_members m WHERE m.rotation_id = t.id))
            ORDER BY t.id), '[]'::jsonb)
     FROM rotations t WHERE t.roster_id = r.id) AS rotations,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', l.id, 'rotation_id', l.rotation_id, 'role', l.role, 'slot', l.slot,
                'days', l.days, 'priority', l.priority)
            ORDER BY l.id), '[]'::jsonb)
     FROM roster_layers l WHERE l.roster_id = r.id) AS layers,
    (SELECT coalesce(jsonb_agg(jsonb_build_object(
                'id', o.id, 'role', o.role, 'slot', o.slot, 'person_id', o.person_id,
                'starts_at', o.starts_at, 'ends_at', o.ends_at, 'replaces', o.replaces,
                'reason', o.reason, 'created_by', o.created_by, 'created_at', o.created_at,
                'swap_id', w.id)
            ORDER BY o.starts_at, o.id), '[]'::jsonb)
     FROM roster_overrides o
     LEFT JOIN roster_swaps w ON o.id IN (w.first_id, w.second_id)
     WHERE o.roster_id = r.id AND o.starts_at < $4 AND o.ends_at > $3) AS overrides,
    (SELECT coalesce(jsonb_agg(jsonb_build_array(d.day, d.makeup_workday) ORDER BY d.day),
                     '[]'::jsonb)
     FROM holiday_days d
     WHERE d.calendar_id = r.calendar_id AND d.day BETWEEN $5 AND $6) AS days
FROM rosters r
WHERE r.id = ANY($1::bigint[]) OR r.org_path = ANY($2::text[])
ORDER BY r.org_path;

-- name: list_rosters :many
-- Every roster of these organisations and below (all when $1 is NULL), without parts.
SELECT id, org_path, name, tz, calendar_id, version, created_by, created_at, updated_at
FROM rosters
WHERE $1::text IS NULL OR org_path = $1 OR org_path LIKE $1 || '.%'
ORDER BY org_path;

-- name: rosters_of_person :many
-- Rosters that name this person in a rotation or an override.
SELECT DISTINCT t.roster_id AS id
FROM rotation_members m JOIN rotations t ON t.id = m.rotation_id
WHERE m.person_id = $1
UNION
SELECT roster_id FROM roster_overrides WHERE person_id = $1 OR replaces = $1
ORDER BY id;

-- name: lock_roster :one
-- Every change of a roster holds this lock, so changes of one roster are serial and its
-- version counts them.
SELECT id, org_path, version FROM rosters WHERE id = $1 FOR UPDATE;

-- name: bump_version :val
UPDATE rosters SET version = version + 1, updated_at = $2 WHERE id = $1 RETURNING version;

-- name: insert_roster :val
INSERT INTO rosters (org_path, name, tz, calendar_id, created_by, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $6)
RETURNING id;

-- name: update_roster :exec
UPDATE rosters SET name = $2, tz = $3, calendar_id = $4 WHERE id = $1;

-- name: delete_roster :exec
DELETE FROM rosters WHERE id = $1;

-- name: clear_slots :exec
DELETE FROM roster_slots WHERE roster_id = $1;

-- name: insert_slot :exec
INSERT INTO roster_slots (roster_id, role, people) VALUES ($1, $2, $3);

-- name: clear_removed :exec
DELETE FROM roster_removed WHERE roster_id = $1;

-- name: insert_removed :exec
INSERT INTO roster_removed (roster_id, person_id) VALUES ($1, $2);

-- name: insert_rotation :val
INSERT INTO rotations (roster_id, name, shift_seconds, handoff, start_date)
VALUES ($1, $2, $3, $4, $5)
RETURNING id;

-- name: update_rotation :exec
UPDATE rotations SET name = $3, shift_seconds = $4, handoff = $5, start_date = $6
WHERE id = $1 AND roster_id = $2;

-- name: delete_rotation :exec
DELETE FROM rotations WHERE id = $1 AND roster_id = $2;

-- name: clear_members :exec
DELETE FROM rotation_members WHERE rotation_id = $1;

-- name: insert_member :exec
INSERT INTO rotation_members (rotation_id, position, person_id) VALUES ($1, $2, $3);

-- name: insert_layer :val
INSERT INTO roster_layers (roster_id, rotation_id, role, slot, days, priority)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id;

-- name: update_layer :exec
UPDATE roster_layers SET rotation_id = $3, role = $4, slot = $5, days = $6, priority = $7
WHERE id = $1 AND roster_id = $2;

-- name: delete_layer :exec
DELETE FROM roster_layers WHERE id = $1 AND roster_id = $2;

-- name: insert_override :val
INSERT INTO roster_overrides
    (roster_id, role, slot, person_id, starts_at, ends_at, replaces, reason, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING id;

-- name: update_override :exec
UPDATE roster_overrides
SET role = $3, slot = $4, person_id = $5, starts_at = $6, ends_at = $7, replaces = $8, reason = $9
WHERE id = $1 AND roster_id = $2;

-- name: delete_overrides :exec
DELETE FROM roster_overrides WHERE id = ANY($1::bigint[]) AND roster_id = $2;

-- name: override :one
SELECT o.id, o.role, o.slot, o.person_id, o.starts_at, o.ends_at, o.replaces, o.reason,
       o.created_by, o.created_at, w.id AS swap_id
FROM roster_overrides o
LEFT JOIN roster_swaps w ON o.id IN (w.first_id, w.second_id)
WHERE o.id = $1 AND o.roster_id = $2;

-- name: overlapping_overrides :many
-- Overrides of one role slot overlapping [$4, $5), other than $6.
SELECT id, person_id, starts_at, ends_at
FROM roster_overrides
WHERE roster_id = $1 AND role = $2 AND slot = $3 AND starts_at < $5 AND ends_at > $4
  AND id <> coalesce($6::bigint, 0)
ORDER BY starts_at;

-- name: list_overrides :many
-- Overrides of a roster overlapping [$2, $3), with the swap each belongs to.
SELECT o.id, o.role, o.slot, o.person_id, o.starts_at, o.ends_at, o.replaces, o.reason,
       o.created_by, o.created_at, w.id AS swap_id
FROM roster_overrides o
LEFT JOIN roster_swaps w ON o.id IN (w.first_id, w.second_id)
WHERE o.roster_id = $1 AND o.starts_at < $3 AND o.ends_at > $2
ORDER BY o.starts_at, o.id;

-- name: insert_swap :val
INSERT INTO roster_swaps (roster_id, first_id, second_id, approved_by, reason, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id;

-- name: swap :one
SELECT id, first_id, second_id, approved_by, reason, created_by, created_at
FROM roster_swaps WHERE id = $1 AND roster_id = $2;

-- name: list_swaps :many
SELECT w.id, w.first_id, w.second_id, w.approved_by, w.reason, w.created_by, w.created_at
FROM roster_swaps w JOIN roster_overrides o ON o.id = w.first_id
WHERE w.roster_id = $1 AND o.ends_at > $2
ORDER BY w.id;

-- name: delete_swap :exec
DELETE FROM roster_swaps WHERE id = $1 AND roster_id = $2;

-- name: insert_audit :val
INSERT INTO roster_audit
    (at, actor, source, entity, entity_id, action, roster_id, org_path, version, before, after)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::jsonb)
RETURNING id;

-- name: audit_of_roster :many
SELECT id, at, actor, source, entity, entity_id, action, version, before, after
FROM roster_audit WHERE roster_id = $1 ORDER BY id;

-- name: people_by_ids :many
SELECT id, name, org_path, phone FROM people WHERE id = ANY($1::text[]);

-- name: calendar :one
SELECT c.id, c.name,
       coalesce(array_agg(d.day ORDER BY d.day) FILTER (WHERE NOT d.makeup_workday), '{}') AS holidays,
       coalesce(array_agg(d.day ORDER BY d.day) FILTER (WHERE d.makeup_workday), '{}')
           AS makeup_workdays
FROM holiday_calendars c LEFT JOIN holiday_days d ON d.calendar_id = c.id
WHERE c.id = $1
GROUP BY c.id, c.name;

-- name: list_calendars :many
SELECT c.id, c.name, count(d.day) AS days, min(d.day) AS first_day, max(d.day) AS last_day
FROM holiday_calendars c LEFT JOIN holiday_days d ON d.calendar_id = c.id
GROUP BY c.id, c.name ORDER BY c.id;

-- name: upsert_calendar :exec
INSERT INTO holiday_calendars (id, name) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET name = excluded.name;

-- name: clear_calendar_days :exec
DELETE FROM holiday_days WHERE calendar_id = $1;

-- name: insert_calendar_day :exec
INSERT INTO holiday_days (calendar_id, day, makeup_workday) VALUES ($1, $2, $3);

-- name: rosters_of_calendar :many
SELECT id FROM rosters WHERE calendar_id = $1 ORDER BY id;

-- name: org_tz :val
SELECT tz FROM orgs WHERE path = $1;

-- name: roster_org :val
SELECT org_path FROM rosters WHERE id = $1;

-- name: audited_roster_org :val
-- The organisation of a roster, from its history (the roster itself may be deleted).
SELECT org_path FROM roster_audit WHERE roster_id = $1 ORDER BY id LIMIT 1;

-- name: delete_swaps_of_roster :exec
DELETE FROM roster_swaps WHERE roster_id = $1;
