"""Settings: config/idhub.toml, then the file named by IDHUB_CONFIG, then IDHUB_* variables."""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = PROJECT_DIR / "config" / "idhub.toml"


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


def _merge(base: dict[str, Any], override: Mapping[str, Any], where: str) -> None:
    for key, value in override.items():
        if key not in base:
            raise ConfigError(f"{where}: unknown setting {key!r}")
        if isinstance(base[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: {key!r} must be a table")
            _merge(base[key], value, f"{where}.{key}")
        else:
            base[key] = value


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _env_overrides(settings: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """IDHUB_<SECTION>_<KEY> → settings[section][key]; IDHUB_<KEY> for top-level keys."""
    overrides: dict[str, Any] = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            for sub in value:
                name = f"IDHUB_{key}_{sub}".upper()
                if name in environ:
                    overrides.setdefault(key, {})[sub] = _parse_env_value(environ[name])
        else:
            name = f"IDHUB_{key}".upper()
            if name in environ:
                overrides[key] = _parse_env_value(environ[name])
    return overrides


def _resolve_paths(settings: dict[str, Any]) -> None:
    var_dir = Path(settings["var_dir"])
    if not var_dir.is_absolute():
        var_dir = PROJECT_DIR / var_dir
    settings["var_dir"] = str(var_dir)

    def expand(value: Any) -> Any:
        if isinstance(value, str) and "{var}" in value:
            return value.replace("{var}", str(var_dir))
        return value

    for section in settings.values():
        if isinstance(section, dict):
            for key, value in section.items():
                section[key] = expand(value)
    for section, key in (("secrets", "dir"), ("dev_slapd", "dir"), ("provisioning", "rules_file")):
        path = Path(settings[section][key])
        if not path.is_absolute():
            settings[section][key] = str(PROJECT_DIR / path)


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Build the settings tree. `overrides` (used by tests) is applied last."""
    environ = os.environ if environ is None else environ
    with DEFAULTS_FILE.open("rb") as fh:
        settings: dict[str, Any] = tomllib.load(fh)
    extra_file = environ.get("IDHUB_CONFIG")
    if extra_file:
        try:
            with open(extra_file, "rb") as fh:
                _merge(settings, tomllib.load(fh), extra_file)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read IDHUB_CONFIG={extra_file}: {exc}") from exc
    _merge(settings, _env_overrides(settings, environ), "environment")
    if overrides:
        _merge(settings, copy.deepcopy(dict(overrides)), "overrides")
    _resolve_paths(settings)
    return settings
