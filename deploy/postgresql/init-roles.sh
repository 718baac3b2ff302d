#!/bin/sh
# First-start hook of the postgres image in deploy/compose.yaml
# (/docker-entrypoint-initdb.d/): creates the dutywatch roles and database with roles.sql.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v owner_password="$DUTYWATCH_OWNER_PASSWORD" \
    -v app_password="$DUTYWATCH_APP_PASSWORD" \
    -v review_password="$DUTYWATCH_REVIEW_PASSWORD" \
    -f /etc/dutywatch/postgresql/roles.sql
