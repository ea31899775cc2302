"""Settings: config/idhub.toml, then the file named by IDHUB_CONFIG, then IDHUB_* variables;
read by typed sections, each declared by the room that uses it."""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast, get_origin, get_type_hints

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


# -- typed sections ---------------------------------------------------------------------------
# Each room that reads a section declares it as a frozen dataclass with `SECTION` set to its
# table in idhub.toml; `Settings.section(Kind)` binds and checks it once. The roof checks
# every known section at start, so a wrong type is an error before anything runs.
S = TypeVar("S")


def _kind_error(where: str, wanted: str, value: Any) -> ConfigError:
    return ConfigError(f"{where} must be {wanted}, not {value!r}")


def _coerce(where: str, kind: Any, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise _kind_error(where, "true or false", value)
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _kind_error(where, "a whole number", value)
    if kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise _kind_error(where, "a number", value)
    if kind is str:
        if isinstance(value, str):
            return value
        raise _kind_error(where, "text", value)
    if get_origin(kind) is tuple:  # tuple[str, ...]: a TOML list of text
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise _kind_error(where, "a list of text", value)
    raise TypeError(f"{where}: no reader for settings of type {kind!r}")


def bind_section(kind: type[S], tree: Mapping[str, Any]) -> S:
    """The `[SECTION]` table of a settings tree as a `kind` instance, every value checked."""
    name = str(vars(kind)["SECTION"])
    table = tree.get(name)
    if not isinstance(table, Mapping):
        raise ConfigError(f"settings: [{name}] is missing")
    hints = get_type_hints(kind)
    values = {}
    for spec in fields(kind):  # type: ignore[arg-type]
        where = f"settings [{name}] {spec.name}"
        if spec.name not in table:
            raise ConfigError(f"{where} is missing")
        values[spec.name] = _coerce(where, hints[spec.name], table[spec.name])
    return kind(**values)


class Settings:
    """The settings tree (as loaded: config/idhub.toml, IDHUB_CONFIG, IDHUB_* variables) and
    its typed sections, each bound and checked on first use."""

    def __init__(self, tree: Mapping[str, Any]) -> None:
        self.tree = tree
        self._sections: dict[type, Any] = {}

    @property
    def var_dir(self) -> Path:
        return Path(self.tree["var_dir"])

    def section(self, kind: type[S]) -> S:
        found = self._sections.get(kind)
        if found is None:
            found = self._sections[kind] = bind_section(kind, self.tree)
        return cast(S, found)

    def check(self, kinds: Iterable[type]) -> Settings:
        """Bind every section now, so a wrong value stops the start with its key and why."""
        for kind in kinds:
            self.section(kind)
        return self


@dataclass(frozen=True)
class DatabaseSettings:
    SECTION: ClassVar[str] = "database"
    url: str
    pool_size: int  # PostgreSQL: connections kept open per process
    max_overflow: int  # and opened beyond them under load

    def __post_init__(self) -> None:
        if self.pool_size < 1 or self.max_overflow < 0:
            raise ConfigError("database.pool_size must be ≥ 1 and max_overflow ≥ 0")


@dataclass(frozen=True)
class SecretsSettings:
    SECTION: ClassVar[str] = "secrets"
    dir: str


@dataclass(frozen=True)
class LoggingSettings:
    SECTION: ClassVar[str] = "logging"
    format: str
    level: str
