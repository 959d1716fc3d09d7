# syntax=docker/dockerfile:1
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

# The connector is built from a scratch copy of its source, bind-mounted so that no source stays
# in the image, and installed as a regular distribution (not editable). The exact lock is the
# constraints file, so the image runs the versions the tests ran; Airflow is named at the
# image's own version, as Airflow's docs ask, so pip never swaps the host. Extras: PostgreSQL
# for the state database, the Celery executor with Redis. pip runs as the image's airflow user.
RUN --mount=type=bind,source=pyproject.toml,target=/tmp/connector-src/pyproject.toml \
    --mount=type=bind,source=plugins/jira_esm_connector,target=/tmp/connector-src/plugins/jira_esm_connector \
    --mount=type=bind,source=constraints.txt,target=/tmp/constraints.txt \
    build="$(mktemp -d)" \
 && cp -r /tmp/connector-src/. "${build}/" \
 && pip install --no-cache-dir -c /tmp/constraints.txt \
        "apache-airflow==${AIRFLOW_VERSION}" "${build}[postgres,celery]" \
 && rm -rf "${build}"

# The DAG files find the task files in include/mappings next to their dags/ folder
# (JIRA_ESM_MAPPINGS_DIR overrides it, e.g. for task files on a mounted volume).
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 include /opt/airflow/include

# The staging folder, made here by the airflow user: docker-compose.yaml mounts a named volume
# on it, and a new volume takes the owner of the folder it is mounted on (without the folder
# Docker makes it root's, and no worker could stage anything there).
RUN mkdir -p /opt/airflow/staging

USER airflow
