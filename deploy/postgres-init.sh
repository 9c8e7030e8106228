#!/bin/sh
# /docker-entrypoint-initdb.d/: the postgres image runs this once, as its superuser, on an empty volume.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner=renergy_owner -v owner_password="$RENERGY_OWNER_PASSWORD" -v database=renergy \
  -f /docker-entrypoint-initdb.d/postgres-init.sql.in
