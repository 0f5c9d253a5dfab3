"""docker-compose.yml and the Dockerfile, checked by reading them (no Docker needed).

The compose file must start the same processes as the Procfile (`make run`), wire its
start order through healthchecks, and set only settings the service knows.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.settings import PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]

APP_SERVICES = ("api", "worker", "webhooks", "toxicity", "beat", "flower")
ALL_SERVICES = ("postgres", "redis", "migrate", *APP_SERVICES)
WORKERS = ("worker", "webhooks", "toxicity")
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SETTING_NAMES = {PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
# Options whose values must be the same in both files; the rest are deployment choices
# (concurrency, schedule path, port) and only have to be present.
ESSENTIAL_OPTIONS = {"-A", "-Q", "-n", "-c"}


#: every `make run` process runs under the restart loop; compose has Docker restart it
RESPAWN = "python -m config.respawn "


def procfile(*, raw: bool = False) -> dict[str, str]:
    """The Procfile's commands by process name, without the restart loop unless ``raw``."""
    entries = {}
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            command = command.strip()
            entries[name.strip()] = command if raw else command.removeprefix(RESPAWN)
    return entries


def expand(text: str) -> str:
    """Shell/compose `${VAR:-default}` -> default; a variable with no default -> <VAR>."""

    def repl(m: re.Match[str]) -> str:
        if m["op"] in {":-", "-"}:
            return m["arg"]
        return f"<{m['name']}>"

    return INTERPOLATION.sub(repl, text)


def parse_command(command: str | list[str]) -> tuple[list[str], dict[str, str]]:
    """Positional arguments and options (``--x=y`` and ``-x y`` alike) of a command."""
    tokens = shlex.split(command) if isinstance(command, str) else list(command)
    tokens = [expand(t) for t in tokens]
    if (
        tokens and tokens[0] == "env"
    ):  # `env NAME=value cmd ...`: the environment is not the command
        tokens = tokens[1:]
        while tokens and "=" in tokens[0] and not tokens[0].startswith("-"):
            tokens = tokens[1:]
    positional: list[str] = []
    options: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("-"):
            if "=" in token:
                key, value = token.split("=", 1)
            else:
                # every option in these commands takes a value
                key, value = token, tokens[i + 1]
                i += 1
            options[key] = value
        else:
            positional.append(token)
        i += 1
    return positional, options


def interpolated_names(text: str) -> set[str]:
    return {m["name"] for m in INTERPOLATION.finditer(text)}


def strings(node: Any) -> Iterator[str]:
    """Every string value in a parsed YAML document (keys are not interpolated)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.partition("=") for item in env)
        return {key: value if sep else None for key, sep, value in pairs}
    return {key: None if value is None else str(value) for key, value in env.items()}


def healthcheck_test(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Volume mounts as {target: source}."""
    result = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        result[target] = source
    return result


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    instructions: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not pending and not stripped):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        instructions.append(pending + stripped)
        pending = ""
    assert not pending, "Dockerfile ends in a line continuation"
    return instructions


# --- structure ------------------------------------------------------------


def test_every_service_exists() -> None:
    missing = [name for name in ALL_SERVICES if name not in SERVICES]
    assert not missing, f"services missing from docker-compose.yml: {missing}"


def test_depends_on_uses_conditions_that_can_be_met() -> None:
    for name, service in SERVICES.items():
        depends_on = service.get("depends_on")
        if depends_on is None:
            continue
        assert isinstance(depends_on, dict), f"{name}: depends_on without conditions"
        for target, spec in depends_on.items():
            assert target in SERVICES, f"{name} depends on unknown service {target}"
            condition = (spec or {}).get("condition")
            assert condition in CONDITIONS, f"{name} -> {target}: condition {condition!r}"
            if condition == "service_healthy":
                check = SERVICES[target].get("healthcheck")
                assert check and not check.get("disable"), (
                    f"{name} waits for {target} to be healthy, but it has no healthcheck"
                )
            if condition == "service_completed_successfully":
                assert SERVICES[target].get("restart", "no") == "no", (
                    f"{name} waits for {target} to exit, but {target} restarts"
                )


def test_start_order() -> None:
    def condition(name: str, target: str) -> str | None:
        return SERVICES[name].get("depends_on", {}).get(target, {}).get("condition")

    assert condition("migrate", "postgres") == "service_healthy"
    for name in ("api", "worker", "webhooks", "toxicity", "beat"):
        assert condition(name, "migrate") == "service_completed_successfully", name
        assert condition(name, "postgres") == "service_healthy", name
        assert condition(name, "redis") == "service_healthy", name
    assert condition("flower", "redis") == "service_healthy"


def test_migrate_runs_the_migrations_once() -> None:
    migrate = SERVICES["migrate"]
    assert parse_command(migrate["command"])[0] == ["moderation", "migrate"]
    assert migrate.get("restart", "no") == "no"


def test_long_running_services_restart_and_stop_gracefully() -> None:
    for name in ("postgres", "redis", *APP_SERVICES):
        assert SERVICES[name].get("restart") == "unless-stopped", name
    for name in WORKERS:
        grace = str(SERVICES[name].get("stop_grace_period", "10s"))  # compose's default
        parts = re.findall(r"(\d+)([hms])", grace)
        assert "".join(n + u for n, u in parts) == grace, f"{name}: cannot read {grace!r}"
        seconds = sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
        assert seconds >= 60, f"{name}: {seconds} s is short for a Celery warm shutdown"


def test_healthchecks() -> None:
    for name in ("postgres", "redis", "api", *WORKERS):
        assert "healthcheck" in SERVICES[name], f"{name} has no healthcheck"
    assert "pg_isready" in healthcheck_test(SERVICES["postgres"])
    assert "redis-cli ping" in healthcheck_test(SERVICES["redis"])
    assert "/readyz" in healthcheck_test(SERVICES["api"])


@pytest.mark.parametrize("name", WORKERS)
def test_worker_healthcheck_pings_its_own_node(name: str) -> None:
    _, options = parse_command(SERVICES[name]["command"])
    # Celery expands %h to the hostname; the container's shell knows it as $HOSTNAME,
    # written $$HOSTNAME so that compose leaves it to the container.
    node = options["-n"].replace("%h", "$$HOSTNAME")
    test = SERVICES[name]["healthcheck"]["test"]
    assert isinstance(test, list) and test[0] == "CMD-SHELL", "needs a shell for $HOSTNAME"
    positional, ping = parse_command(test[1])
    assert positional == ["celery", "inspect", "ping"]
    assert ping["-A"] == "workers.celery_app"
    assert ping.get("-d", ping.get("--destination")) == node


# --- commands match the Procfile ---------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_command_matches_procfile(name: str) -> None:
    expected_args, expected_opts = parse_command(procfile()[name])
    args, opts = parse_command(SERVICES[name]["command"])
    assert args == expected_args, f"{name}: {args} != Procfile {expected_args}"
    missing = sorted(set(expected_opts) - set(opts))
    assert not missing, f"{name}: options of the Procfile line missing: {missing}"
    for key in ESSENTIAL_OPTIONS & set(expected_opts):
        assert opts[key] == expected_opts[key], f"{name}: {key} {opts[key]!r}"


def test_every_make_run_process_restarts_when_it_dies() -> None:
    # compose has the Docker daemon's restart policy (checked above); make run has this
    assert all(command.startswith(RESPAWN) for command in procfile(raw=True).values())


def test_procfile_lines_are_the_expected_processes() -> None:
    # guards the comparison above against a Procfile that lost its essentials
    entries = {name: parse_command(command) for name, command in procfile().items()}
    assert entries["api"][0] == ["gunicorn", "service:create_app()"]
    assert entries["api"][1]["-c"] == "config/gunicorn.py"
    for name, queue in (("worker", "default"), ("webhooks", "webhooks"), ("toxicity", "toxicity")):
        args, opts = entries[name]
        assert args == ["celery", "worker"]
        assert (opts["-A"], opts["-Q"]) == ("workers.celery_app", queue)
    assert entries["beat"][0] == ["celery", "beat"]
    assert entries["flower"][0] == ["celery", "flower"]


def test_flower_requires_basic_auth_from_the_environment() -> None:
    # compose must refuse to start when the variable is unset or empty, and the password
    # goes in Flower's own environment variable, not on the command line (visible in ps)
    command = SERVICES["flower"]["command"]
    assert not any("basic-auth" in t for t in command), command
    value = SERVICES["flower"]["environment"]["FLOWER_BASIC_AUTH"]
    m = INTERPOLATION.fullmatch(value)
    assert m and m["name"] == "MODERATION_FLOWER_BASIC_AUTH" and m["op"] == ":?", (
        f"FLOWER_BASIC_AUTH must be ${{MODERATION_FLOWER_BASIC_AUTH:?message}}, not {value!r}"
    )
    assert "FLOWER_BASIC_AUTH" in procfile()["flower"]


# --- scaling and volumes ----------------------------------------------------------


def test_workers_can_be_scaled() -> None:
    for name in (*WORKERS, "beat", "migrate"):
        assert "ports" not in SERVICES[name], f"{name} publishes a fixed host port"
    for name, service in SERVICES.items():
        assert "container_name" not in service, f"{name}: container_name blocks --scale"


def test_models_volume_is_mounted_on_the_toxicity_worker() -> None:
    toxicity = SERVICES["toxicity"]
    assert "models" in COMPOSE.get("volumes", {}), "no top-level `models` volume"
    assert mounts(toxicity).get("/models") == "models"
    assert environment(toxicity)["MODERATION_MODELS_DIR"] == "/models"


def test_postgres_keeps_its_data_in_a_named_volume() -> None:
    volumes = COMPOSE.get("volumes", {})
    assert mounts(SERVICES["postgres"]).get("/var/lib/postgresql/data") in volumes


# --- environment ----------------------------------------------------------------


def test_app_services_share_the_app_environment() -> None:
    shared = COMPOSE["x-app-env"]
    assert "@postgres:5432/" in shared["MODERATION_DATABASE_URL"]
    assert shared["MODERATION_REDIS_URL"].startswith("redis://redis:6379/")
    for key in ("MODERATION_WEBHOOK_URL", "MODERATION_WEBHOOK_SECRET"):
        assert shared[key] == f"${{{key}:-}}", f"{key}: pass it through, empty by default"
    # the SSRF guard is on unless the operator turns it off
    allow = "MODERATION_WEBHOOK_ALLOW_PRIVATE"
    assert shared[allow] == f"${{{allow}:-false}}"
    for name in ("migrate", *APP_SERVICES):
        env = environment(SERVICES[name])
        for key, value in shared.items():
            assert env.get(key) == value, f"{name}: {key} differs from x-app-env"


def test_every_moderation_variable_set_is_a_setting() -> None:
    for name, service in SERVICES.items():
        unknown = sorted(k for k in environment(service) if k.startswith(PREFIX))
        unknown = [k for k in unknown if k not in SETTING_NAMES]
        assert not unknown, f"{name} sets variables config.settings does not know: {unknown}"


def test_moderation_variables_read_from_the_host_are_known() -> None:
    # Settings, or the Procfile's own process knobs (e.g. worker concurrency)
    known = SETTING_NAMES | interpolated_names(" ".join(procfile().values()))
    names = interpolated_names(" ".join(strings(COMPOSE)))
    unknown = sorted({n for n in names if n.startswith(PREFIX)} - known)
    assert not unknown, f"unknown MODERATION_ variables in docker-compose.yml: {unknown}"


def test_no_bare_dollar_in_compose_values() -> None:
    # compose interpolates $NAME from the host; container variables must be written $$NAME
    for value in strings(COMPOSE):
        for m in re.finditer(r"\$(\$|\{[^}]*\}|\w+)?", value):
            group = m[1] or ""
            assert group == "$" or group.startswith("{"), f"bare {m[0]!r} in {value!r}"


# --- Dockerfile ---------------------------------------------------------------------


def test_dockerfile_installs_cpu_torch_before_the_project() -> None:
    instructions = dockerfile_instructions()
    installs = [(i, text) for i, text in enumerate(instructions) if "pip install" in text]
    torch = [i for i, text in installs if "torch==" in text]
    assert len(torch) == 1, "one RUN installs torch explicitly"
    torch_line = instructions[torch[0]]
    assert "--index-url https://download.pytorch.org/whl/cpu" in torch_line
    project = [i for i, text in installs if ".[ml]" in text]
    assert project, "no `pip install ... '.[ml]'` of the project"
    assert "-c constraints.txt" in instructions[project[0]]
    first_other = min(i for i, _ in installs if i != torch[0])
    assert torch[0] < first_other, "torch must be installed before anything else"

    pinned = re.search(r"torch==([\w.+]+)", torch_line)
    assert pinned
    ml = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert f"torch=={pinned[1]}" in ml["optional-dependencies"]["ml"]
    assert pinned[1] == "2.13.0"


def test_dockerfile_runs_offline_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    env = " ".join(text for text in instructions if text.startswith("ENV "))
    for item in ("HF_HUB_OFFLINE=1", "HF_HUB_DISABLE_PROGRESS_BARS=1", "PYTHONUNBUFFERED=1"):
        assert item in env
    users = [text.split()[1] for text in instructions if text.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}
    assert instructions[0].startswith("FROM python:3.11-slim")


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (".venv", ".git", "var", "models", ".env"):
        assert entry in ignored, f"{entry} is not in .dockerignore"


def test_image_ships_the_assembled_default_model() -> None:
    instructions = dockerfile_instructions()
    prepare = [i for i, text in enumerate(instructions) if "moderation prepare-model" in text]
    assert prepare, "the image does not assemble the shipped toxicity model"
    users = [i for i, text in enumerate(instructions) if text.startswith("USER ")]
    # as the app user, so a worker may rebuild the cache in the volume if it must
    assert users and users[-1] < prepare[0]
    env = COMPOSE["x-app-env"]
    assert env["MODERATION_TOXICITY_MODEL"] == "${MODERATION_TOXICITY_MODEL:-minilm-toxic-en}"


def test_production_needs_tokens_where_the_local_default_is_open() -> None:
    # compose is the production-like stack: comments only through the site's backend,
    # and /statusz and /metrics behind their token (README, Security)
    env = {k: expand(v) for k, v in COMPOSE["x-app-env"].items()}
    assert env["MODERATION_REQUIRE_SITE_TOKEN"] == "true"
    assert env.get("MODERATION_OPS_ENDPOINTS_OPEN", "false") == "false"
