"""Settings: every variable read once, one error rule, and the API reference's table lists exactly these variables."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from sam3_core.settings import Limits, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


def variables(cls: type = Settings) -> dict[str, dataclasses.Field]:
    found = {}
    for spec in dataclasses.fields(cls):
        if "env" in spec.metadata:
            found[spec.metadata["env"]] = spec
        else:
            found |= variables(spec.default_factory)
    return found


def test_defaults_without_environment():
    settings = Settings.from_env({})
    assert settings == Settings() and settings.request.limits == Limits()
    assert settings.engine.feature_cache_mb == 1024 and settings.server.port == 8080


def test_every_variable_is_read():
    environ = {
        "SAM3_MAX_OBJECTS": "7",
        "SAM3_URL_HOSTS": "A.example, b.example",
        "SAM3_URL_TIMEOUT_S": "2.5",
        "SAM3_DEFAULT_PROMPTS": "cat, dog ,",
        "SAM3_MODEL_ID": "me/sam3",
        "HF_TOKEN": "hf_x",
        "SAM3_DEVICE": "cpu",
        "SAM3_DTYPE": "Float16",
        "SAM3_FEATURE_CACHE_MB": "0",
        "SAM3_COMPILE": "1",
        "SAM3_AMG_MIN_STABILITY": "0.5",
        "PORT": "9000",
        "SAM3_READ_TIMEOUT_S": "2.5",
        "SAM3_MAX_CONNECTIONS": "16",
        "HF_MODEL_DIR": "/repository",
    }
    settings = Settings.from_env(environ)
    assert settings.request.limits.max_objects == 7
    assert settings.request.url_hosts == ("a.example", "b.example") and settings.request.url_timeout_s == 2.5
    assert settings.request.default_prompts == ("cat", "dog")
    assert (settings.model.model_id, settings.model.hf_token, settings.model.dtype) == ("me/sam3", "hf_x", "float16")
    assert settings.engine.feature_cache_mb == 0 and settings.engine.compile is True
    assert settings.request.amg_min_stability == 0.5
    assert settings.server.port == 9000 and settings.server.model_dir == "/repository"
    assert settings.server.read_timeout_s == 2.5 and settings.server.max_connections == 16
    assert Settings.from_env({"SAM3_MAX_OBJECTS": "  "}).request.limits.max_objects == 100, "empty keeps the default"


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("SAM3_MAX_POINTS", "0", "a positive integer"),
        ("SAM3_MAX_POINTS", "1e3", "a positive integer"),
        ("SAM3_FEATURE_CACHE_MB", "-1", "a non-negative integer"),
        ("SAM3_URL_TIMEOUT_S", "inf", "a positive number"),
        ("SAM3_READ_TIMEOUT_S", "0", "a positive number"),
        ("SAM3_AMG_MIN_STABILITY", "1.5", "a number from 0 to 1"),
        ("SAM3_COMPILE", "yes", "0 or 1"),
        ("SAM3_DTYPE", "int8", "one of float32, bfloat16, float16"),
        ("PORT", "9" * 400, "a port number (1-65535)"),
    ],
)
def test_one_error_rule(name, value, expected):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({name: value})
    message = str(error.value)
    assert message.startswith(f"{name}=") and message.endswith(f"expected {expected}") and len(message) < 120


def test_the_api_reference_table_lists_every_variable():
    reference = (ROOT / "docs" / "API.md").read_text()
    table = reference.split("## Limits and configuration (environment variables)", 1)[1].split("\n## ", 1)[0]
    first_cells = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `")]
    documented = {name for cell in first_cells for name in re.findall(r"`([A-Z0-9_]+)`", cell)}
    assert documented == set(variables())


def test_secrets_stay_out_of_the_settings_repr():
    settings = Settings.from_env({"HF_TOKEN": "hf_secret_value", "LABEL_STUDIO_API_KEY": "ls-secret-value"})
    assert settings.model.hf_token == "hf_secret_value" and settings.label_studio.api_key == "ls-secret-value"
    assert "secret" not in repr(settings)
