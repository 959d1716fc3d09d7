-- The connector's state database (task cache, watermarks, key map, event records),
-- kept apart from Airflow's metadata database: tasks never touch Airflow's tables.
CREATE USER connector WITH PASSWORD 'airflow';
CREATE DATABASE connector_state OWNER connector;
