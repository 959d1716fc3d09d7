# The connector's production image: Apache Airflow 3.3.2 with the connector installed as a
# regular (not editable) distribution, the project's DAG files and the example task files.
# Runtime dependencies only: no test tools, no simulators, no devtools/ or tests/.
# Secrets never go into the image: connections, passwords and keys come from the environment.
#
#   docker build -t jira-esm-connector .        (docker-compose.yaml builds it too)
FROM apache/airflow:3.3.2-python3.11

LABEL org.opencontainers.image.title="jira-esm-connector" \
      org.opencontainers.image.description="Jira Cloud <-> Efecte/Matrix42 ESM connector on Apache Airflow 3" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.base.name="docker.io/apache/airflow:3.3.2-python3.11"

# The connector's source, only for the install below (removed in the same layer).
COPY --chown=airflow:0 pyproject.toml constraints.txt /opt/connector/
COPY --chown=airflow:0 plugins/jira_esm_connector /opt/connector/plugins/jira_esm_connector

# The exact lock as constraints, so the image runs the versions the tests ran; Airflow named
# at the image's own version, as Airflow's docs ask, so pip never swaps the host. Extras:
# PostgreSQL for the state database, the Celery executor with Redis.
RUN pip install --no-cache-dir -c /opt/connector/constraints.txt \
        "apache-airflow==${AIRFLOW_VERSION}" "/opt/connector[postgres,celery]" \
 && rm -rf /opt/connector

# The DAG files find the task files in include/mappings next to their dags/ folder
# (JIRA_ESM_MAPPINGS_DIR overrides it, e.g. for task files on a mounted volume).
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 include /opt/airflow/include

USER airflow
