-- name: lock_roster_gaps :exec
-- Serialises the gap check of one roster across replicas for the rest of the transaction.
SELECT pg_advisory_xact_lock(hashtext('dutywatch.roster_gaps'), $1::int);

-- name: known_gap :val
-- A recorded gap this one continues: the same slot, overlapping or touching it. As the
-- check's window moves forward, an ongoing gap is seen again with other edges.
SELECT id FROM roster_gaps
WHERE roster_id = $1 AND role = $2 AND slot = $3 AND starts_at <= $5 AND ends_at >= $4
ORDER BY starts_at LIMIT 1;

-- name: extend_gap :exec
UPDATE roster_gaps SET starts_at = least(starts_at, $2), ends_at = greatest(ends_at, $3)
WHERE id = $1;

-- name: insert_gap :exec
INSERT INTO roster_gaps (roster_id, org_path, role, slot, starts_at, ends_at, found_at)
VALUES ($1, $2, $3, $4, $5, $6, $7);

-- name: gaps_of_roster :many
SELECT id, role::text AS role, slot, starts_at, ends_at, found_at
FROM roster_gaps WHERE roster_id = $1 ORDER BY starts_at, role, slot;

-- name: insert_gap_alarm :exec
INSERT INTO alarms (id, kind, org_path, person_id, role, title, roster_id, detail, created_at)
VALUES ($1, 'roster_gap', $2, $3, $4, $5, $6, $7, $8);
