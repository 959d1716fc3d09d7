"""SQLite connect arguments for the local `airflow standalone` (demo and e2e tests).

On 2 busy cores the scheduler, DAG processor, API server and task processes all write to
one SQLite file; sqlite3's default 5 s lock wait is then too short and the API answers
"Database error". Airflow imports these dicts through
[database] sql_alchemy_connect_args(_async).
"""
SYNC = {"timeout": 60}
ASYNC = {"timeout": 60}
