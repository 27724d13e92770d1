"""The team deployment: docker-compose.yml, its .env.example, and the Dockerfile.

No Docker engine is needed: compose files are checked with `docker-compose config` (which only
interpolates and validates) and by reading the YAML; the Dockerfile is read as text.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
LONG_RUNNING_AIRFLOW_SERVICES = AIRFLOW_SERVICES[1:]
JWT_VAR = "AIRFLOW__API_AUTH__JWT_SECRET"

# A value that only refers to an .env variable: `${VAR}` or `${VAR:?message}`. A default
# (`${VAR:-...}`) does not count: the default itself would be a secret written in the file.
ENV_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY(?![A-Z_])|REDISCLI_AUTH", re.IGNORECASE)
SECRET_FLAG = re.compile(r"^--?[a-z-]*(pass|secret|token|key)[a-z-]*$", re.IGNORECASE)
URL_PASSWORD = re.compile(r"://[^:/@\s]*:([^@\s]*)@")
# `${VAR...}` that compose interpolates; `$${VAR}` is an escaped `$` left to the container's shell.
INTERPOLATED = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
JSON_PASSWORD = re.compile(r'"password"\s*:\s*"([^"]*)"')


def docker_compose(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
    """Run docker-compose on the project's compose file, with variables from env_file only."""
    executable = shutil.which("docker-compose")
    if executable is None:
        pytest.fail(
            "docker-compose is not installed: run `make install` "
            "(it installs the Debian package docker-compose)"
        )
    # A clean environment, so a variable exported in the developer's shell cannot mask a missing one.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [executable, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def compose_yaml() -> dict:
    """docker-compose.yml as written (anchors and `<<` merges resolved, no interpolation)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def strings_in(node) -> list[str]:
    """Every string (keys and values) in a parsed YAML document."""
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in strings_in(key) + strings_in(value)]
    if isinstance(node, list):
        return [text for item in node for text in strings_in(item)]
    return [node] if isinstance(node, str) else []


def literal_secrets(service: dict) -> list[str]:
    """Where a service holds a password, key or token that is not a reference to an .env variable."""
    found = []
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    for name, value in environment.items():
        value = "" if value is None else str(value)
        if SECRET_NAME.search(name) and not name.endswith("_FILE") and not ENV_REFERENCE.fullmatch(value):
            found.append(f"{name}={value}")
        for secret in URL_PASSWORD.findall(value) + JSON_PASSWORD.findall(value):
            if not ENV_REFERENCE.fullmatch(secret):
                found.append(f"{name}: {secret}")
    command = service.get("command") or []
    if isinstance(command, list):
        for flag, value in itertools.pairwise(command):
            if SECRET_FLAG.match(str(flag)) and not ENV_REFERENCE.fullmatch(str(value)):
                found.append(f"{flag} {value}")
    return found


# --- docker-compose config --------------------------------------------------------------------


def test_compose_file_is_valid_with_the_example_env():
    result = docker_compose("config", "-q")

    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_run_without_a_jwt_secret(tmp_path):
    env_file = tmp_path / "no-jwt.env"
    env_file.write_text(
        "\n".join(line for line in ENV_EXAMPLE.read_text().splitlines() if not line.startswith(JWT_VAR))
    )

    result = docker_compose("config", "-q", env_file=env_file)

    assert result.returncode != 0
    assert JWT_VAR in result.stderr


def test_every_airflow_service_gets_the_one_jwt_secret_from_the_env_file():
    result = docker_compose("config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]

    secrets = {name: services[name]["environment"][JWT_VAR] for name in AIRFLOW_SERVICES}

    assert set(secrets.values()) == {env_example()[JWT_VAR]}


# --- docker-compose.yml as written ------------------------------------------------------------


def test_the_six_airflow_services_exist():
    services = compose_yaml()["services"]

    assert set(AIRFLOW_SERVICES) <= set(services)


def test_the_supporting_services_exist():
    services = compose_yaml()["services"]

    assert {"postgres", "warehouse", "redis", "sftp", "sandbox"} <= set(services)


def test_every_airflow_service_refers_to_the_same_jwt_secret_variable():
    services = compose_yaml()["services"]

    references = {services[name]["environment"].get(JWT_VAR) for name in AIRFLOW_SERVICES}

    assert len(references) == 1
    (reference,) = references
    assert reference.startswith("${" + JWT_VAR + ":?")
    assert ENV_REFERENCE.fullmatch(reference)


def test_every_airflow_service_uses_the_celery_executor():
    services = compose_yaml()["services"]

    executors = {services[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] for name in AIRFLOW_SERVICES}

    assert executors == {"CeleryExecutor"}


def test_workers_reach_the_execution_api_on_the_api_server():
    services = compose_yaml()["services"]

    urls = {
        services[name]["environment"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] for name in AIRFLOW_SERVICES
    }

    assert urls == {"http://airflow-apiserver:8080/execution/"}


@pytest.mark.parametrize(
    ("service", "command"),
    [
        ("airflow-apiserver", ["airflow", "api-server"]),
        ("airflow-scheduler", ["airflow", "scheduler"]),
        ("airflow-dag-processor", ["airflow", "dag-processor"]),
        ("airflow-triggerer", ["airflow", "triggerer"]),
        ("airflow-worker", ["airflow", "celery", "worker"]),
    ],
)
def test_each_airflow_service_runs_its_airflow_3_command(service, command):
    actual = compose_yaml()["services"][service]["command"]

    assert actual[: len(command)] == command


def test_the_api_server_is_healthy_when_its_health_endpoint_answers():
    apiserver = compose_yaml()["services"]["airflow-apiserver"]

    assert any("/api/v2/monitor/health" in str(part) for part in apiserver["healthcheck"]["test"])
    assert any(str(port).endswith(":8080") for port in apiserver["ports"])


def test_airflow_services_start_after_the_init_and_healthy_databases():
    services = compose_yaml()["services"]

    for name in LONG_RUNNING_AIRFLOW_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["airflow-init"] == {"condition": "service_completed_successfully"}, name
        assert depends_on["postgres"] == {"condition": "service_healthy"}, name
        assert depends_on["redis"] == {"condition": "service_healthy"}, name


def test_every_service_waited_on_as_healthy_has_a_healthcheck():
    services = compose_yaml()["services"]

    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            if rule.get("condition") == "service_healthy":
                assert "healthcheck" in services[dependency], f"{name} waits on {dependency}"


def test_airflow_services_mount_the_project_folders():
    services = compose_yaml()["services"]

    for name in AIRFLOW_SERVICES:
        sources = {volume.split(":")[0] for volume in services[name]["volumes"]}
        assert {"./dags", "./plugins", "./include", "./dbt_project", "./expectations"} <= sources, name


def test_no_service_holds_a_literal_secret():
    services = compose_yaml()["services"]

    found = {name: literal_secrets(service) for name, service in services.items()}

    assert {name: secrets for name, secrets in found.items() if secrets} == {}


@pytest.mark.parametrize(
    "service",
    [
        {"environment": {"POSTGRES_PASSWORD": "hunter2"}},
        {"environment": {"AIRFLOW__API_AUTH__JWT_SECRET": "${AIRFLOW__API_AUTH__JWT_SECRET:-dev-secret}"}},
        {"environment": {"AIRFLOW__CELERY__BROKER_URL": "redis://:hunter2@redis:6379/0"}},
        {"environment": {"AIRFLOW_CONN_X": '{"conn_type": "sftp", "password": "hunter2"}'}},
        {"command": ["redis-server", "--requirepass", "hunter2"]},
    ],
)
def test_the_literal_secret_check_catches_written_secrets(service):
    assert literal_secrets(service) != []


def test_the_literal_secret_check_accepts_env_references():
    service = {
        "environment": {
            "POSTGRES_PASSWORD": "${DB_PASSWORD:?set it}",
            "AIRFLOW__CELERY__BROKER_URL": "redis://:${REDIS_PASSWORD}@redis:6379/0",
            "AIRFLOW_CONN_X": '{"conn_type": "sftp", "password": "${SFTP_PASSWORD:?set it}"}',
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": "/opt/airflow/auth/passwords.json",
        },
        "command": ["redis-server", "--requirepass", "${REDIS_PASSWORD:?set it}"],
    }

    assert literal_secrets(service) == []


# --- .env.example and .gitignore --------------------------------------------------------------


def test_env_example_defines_every_variable_the_compose_file_uses():
    used = {name for text in strings_in(compose_yaml()) for name in INTERPOLATED.findall(text)}

    assert used - set(env_example()) == set()


def test_env_example_holds_placeholders_not_secrets():
    secrets = {name: value for name, value in env_example().items() if SECRET_NAME.search(name)}

    real_looking = {
        name: value
        for name, value in secrets.items()
        if not value.startswith("change-me") and value != "sk_test_sandbox"
    }
    assert secrets
    assert real_looking == {}


def test_env_example_tells_how_to_generate_the_secrets():
    text = ENV_EXAMPLE.read_text()

    assert "secrets.token_urlsafe" in text
    assert "Fernet.generate_key()" in text


def test_the_env_file_is_gitignored():
    ignored = {line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()}

    assert ignored & {".env", "/.env"}
    assert ".env.example" not in ignored


# --- Dockerfile -------------------------------------------------------------------------------


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    return [
        " ".join(instruction.split())
        for instruction in re.sub(r"\\\n", " ", "\n".join(lines)).splitlines()
        if instruction.strip()
    ]


def test_the_image_installs_the_locked_dependencies():
    installs = [
        line for line in dockerfile_instructions() if line.startswith("RUN") and "pip install" in line
    ]

    assert len(installs) == 1
    (install,) = installs
    assert "-r requirements.txt" in install
    assert "-c constraints.txt" in install


def test_the_image_runs_as_a_non_root_user():
    users = [line.split()[1] for line in dockerfile_instructions() if line.startswith("USER")]

    assert users
    assert users[-1] not in {"root", "0", "0:0"}


def test_the_image_ships_the_dbt_manifest():
    runs = [line for line in dockerfile_instructions() if line.startswith("RUN")]

    assert any("dbt parse" in line and "manifest.json" in line for line in runs)


def test_the_build_context_leaves_secrets_and_local_state_out():
    ignored = set((ROOT / ".dockerignore").read_text().split())

    assert {".env", ".venv", ".git", ".demo", ".airflow"} <= ignored
