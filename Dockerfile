# syntax=docker/dockerfile:1
#
# The recon image: Airflow 3.3 + providers + Cosmos/dbt + Great Expectations, and the project itself.
#
# Base: python:3.11-slim, not apache/airflow:slim-3.3.2-python3.11. The Airflow image already has
# Airflow and its own constraint set installed; resolving our constraints.txt on top of it would have
# pip up- and down-grade packages inside an environment we do not control, and two locks would
# disagree. From plain Python, constraints.txt (the full lock the dev venv and CI install) is the one
# source of truth, so the image runs exactly the versions the tests ran.
FROM python:3.11-slim

# Runtime state (airflow.cfg, logs, the auth file) lives in AIRFLOW_HOME, the code in /opt/recon.
# PYTHONPATH holds the project root (for `include`, e.g. `python -m include.sandbox`) and plugins/
# (for the `recon` package).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIRFLOW_HOME=/opt/airflow \
    HOME=/home/airflow \
    PYTHONPATH=/opt/recon:/opt/recon/plugins \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/recon/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/recon/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    AIRFLOW__COSMOS__ENABLE_TELEMETRY=False \
    RECON_SPECS_DIR=/opt/recon/include/specs \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    DO_NOT_TRACK=1

# Non-root user. Group 0 owns every writable path, so compose can run the image under any UID
# (AIRFLOW_UID) as long as the group stays 0.
RUN useradd --uid 50000 --gid 0 --create-home --home-dir /home/airflow --shell /bin/bash airflow \
    && mkdir -p /opt/airflow/logs /opt/airflow/auth /opt/recon \
    && chown -R airflow:0 /opt/airflow /opt/recon /home/airflow \
    && chmod -R g+rwX /opt/airflow /opt/recon /home/airflow

WORKDIR /opt/recon

# Dependencies first, in their own layer: only a change to the lock rebuilds it.
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt

COPY --chown=airflow:0 . .
RUN chmod -R g+rwX /opt/recon

USER 50000

# Cosmos renders each DAG's dbt graph from target/manifest.json, so DAG parsing never runs dbt.
# dbt_project/profiles.yml reads every setting from env vars with defaults: parsing needs no secret
# and no database connection.
RUN if [ -f dbt_project/packages.yml ] || [ -f dbt_project/dependencies.yml ]; then \
        dbt deps --project-dir dbt_project --profiles-dir dbt_project; \
    fi \
    && dbt parse --project-dir dbt_project --profiles-dir dbt_project \
    && test -s dbt_project/target/manifest.json

EXPOSE 8080
CMD ["airflow", "version"]
