-- dutywatch: roles and database. Run ONCE, as a superuser, with psql:
--
--   psql -v ON_ERROR_STOP=1 \
--        -v owner_password="$(cat owner.pw)" -v app_password="$(cat app.pw)" \
--        -v review_password="$(cat review.pw)" -f roles.sql postgres
--
-- Optional variables (defaults in brackets): database [dutywatch], owner_role [dutywatch_owner],
-- app_role [dutywatch_app], review_role [dutywatch_review], app_connection_limit [200].
-- Then: `dutywatch migrate` as the owner role, then grants.sql as the owner role.
-- Tested by tests/integration/test_deploy.py against a real PostgreSQL.

\set ON_ERROR_STOP on
\if :{?database} \else \set database dutywatch \endif
\if :{?owner_role} \else \set owner_role dutywatch_owner \endif
\if :{?app_role} \else \set app_role dutywatch_app \endif
\if :{?review_role} \else \set review_role dutywatch_review \endif
\if :{?app_connection_limit} \else \set app_connection_limit 200 \endif

-- The schema owner: `dutywatch migrate` only (DDL). Never given to the running service.
CREATE ROLE :"owner_role" LOGIN PASSWORD :'owner_password';
-- The running service (`dutywatch serve`): reads and writes rows, never changes the schema,
-- never updates or deletes the append-only records (grants.sql).
CREATE ROLE :"app_role" LOGIN PASSWORD :'app_password' CONNECTION LIMIT :app_connection_limit;
-- Reviewers and reporting tools: read only, and not personal data or token hashes.
CREATE ROLE :"review_role" LOGIN PASSWORD :'review_password';

CREATE DATABASE :"database" OWNER :"owner_role" ENCODING 'UTF8' TEMPLATE template0;
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"database" TO :"app_role", :"review_role";

-- A session stuck inside a transaction (a hung replica) must not hold incident locks for ever.
ALTER ROLE :"app_role" SET idle_in_transaction_session_timeout = '5min';
-- Commits are durable whatever a session asks for (deploy/postgresql.md "Durability").
ALTER ROLE :"app_role" SET synchronous_commit = 'on';

\connect :"database"
ALTER SCHEMA public OWNER TO :"owner_role";
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO :"app_role", :"review_role";

-- Tables created by later migrations (owned by the owner role) get the service's row
-- privileges automatically; append-only tables are narrowed again by grants.sql.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner_role" IN SCHEMA public
    GRANT SELECT ON TABLES TO :"review_role";
