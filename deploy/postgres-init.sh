#!/usr/bin/env bash
# Run once by the postgres image on an empty data folder (/docker-entrypoint-initdb.d/).
# The connector's state database (task cache, watermarks, key map, event records), kept apart
# from Airflow's metadata database: tasks never touch Airflow's tables. Its user's password is
# POSTGRES_PASSWORD from the environment, never written here; psql quotes it (:'password').
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v password="$POSTGRES_PASSWORD" <<'SQL'
CREATE USER connector WITH PASSWORD :'password';
CREATE DATABASE connector_state OWNER connector;
SQL
