-- dutywatch: privileges of the service and review roles on the migrated schema.
-- Run as the OWNER role after every `dutywatch migrate` (dutywatch-migrate.service and the
-- Kubernetes migration Job do); idempotent. Same optional psql variables as roles.sql.
-- Tested by tests/integration/test_deploy.py against a real PostgreSQL; that test also fails
-- when a migration adds a table with an append-only trigger that is not narrowed here.

\set ON_ERROR_STOP on
\if :{?app_role} \else \set app_role dutywatch_app \endif
\if :{?review_role} \else \set review_role dutywatch_review \endif

-- Rows: the service reads and writes its tables (rosters, shifts, tokens ... are edited and
-- deleted through the API); it never truncates.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
REVOKE TRUNCATE ON ALL TABLES IN SCHEMA public FROM :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";

-- The records are append-only: the service may INSERT and SELECT, never UPDATE or DELETE.
-- (Triggers refuse both as well; the triggers guard against the owner's mistakes, the missing
-- privilege against a compromised service, which cannot drop a trigger it does not own.)
REVOKE UPDATE, DELETE ON timeline_entries FROM :"app_role";
REVOKE UPDATE, DELETE ON reports FROM :"app_role";
-- Except the one change Art. 85 requires: a purge strips the personal fields from a
-- report's payload (the trigger reports_purge_only refuses any other change).
GRANT UPDATE (payload) ON reports TO :"app_role";
-- And every other table whose BEFORE trigger fires on both UPDATE and DELETE (the append-only
-- pattern of the migrations, e.g. roster_audit): no list here to forget a new one in.
SELECT format('REVOKE UPDATE, DELETE ON %s FROM %I', tgrelid::regclass, :'app_role')
FROM pg_trigger
WHERE NOT tgisinternal
  AND tgrelid IN (SELECT c.oid FROM pg_class c
                  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public')
  AND tgtype & 2 = 2     -- BEFORE
  AND tgtype & 24 = 24   -- on UPDATE and on DELETE
GROUP BY tgrelid \gexec
-- Migration bookkeeping belongs to the owner; the service may only read it.
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM :"app_role";

-- Reviewers read everything but personal data and token hashes.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"review_role";
REVOKE SELECT ON personal_data, api_tokens FROM :"review_role";
