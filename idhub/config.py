"""Settings: idhub/defaults/idhub.toml (package data), then the file named by IDHUB_CONFIG (or
/etc/idhub/idhub.toml for an installed hub), then IDHUB_* variables; read by typed sections,
each declared by the room that uses it."""

from __future__ import annotations

import copy
import importlib.resources
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast, get_origin, get_type_hints

PROJECT_DIR = Path(__file__).resolve().parent.parent
# A source checkout (make run, the tests) keeps its data in ./var and reads no /etc; an
# installed hub (pip install idhub-….whl) has no pyproject.toml next to its package.
FROM_CHECKOUT = (PROJECT_DIR / "pyproject.toml").is_file()
# What the package ships (defaults, rules, LDAP schema and LDIF, mail templates): package
# data, so an installed hub finds it in site-packages. A real folder: slapd reads from it.
DEFAULTS_DIR = Path(str(importlib.resources.files("idhub") / "defaults"))
DEFAULTS_FILE = DEFAULTS_DIR / "idhub.toml"
SYSTEM_CONFIG = Path("/etc/idhub/idhub.toml")
INSTALLED_VAR_DIR = "/var/lib/idhub"


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


def _resolve_paths(settings: dict[str, Any], from_checkout: bool) -> None:
    """Relative paths are relative to the checkout (make run, tests) or, for an installed hub,
    to the current folder; an empty var_dir is ./var or /var/lib/idhub; an empty rules_file
    is the packaged idhub/defaults/rules.toml."""
    base = PROJECT_DIR if from_checkout else Path.cwd()
    if not settings["var_dir"]:
        settings["var_dir"] = "var" if from_checkout else INSTALLED_VAR_DIR
    if not settings["provisioning"]["rules_file"]:
        settings["provisioning"]["rules_file"] = str(DEFAULTS_DIR / "rules.toml")
    var_dir = Path(settings["var_dir"])
    if not var_dir.is_absolute():
        var_dir = base / var_dir
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
            settings[section][key] = str(base / path)


def config_file(environ: Mapping[str, str], from_checkout: bool = FROM_CHECKOUT) -> str | None:
    """The operator's file: IDHUB_CONFIG, else /etc/idhub/idhub.toml for an installed hub."""
    named = environ.get("IDHUB_CONFIG")
    if named:
        return named
    if not from_checkout and SYSTEM_CONFIG.is_file():
        return str(SYSTEM_CONFIG)
    return None


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    from_checkout: bool = FROM_CHECKOUT,
) -> dict[str, Any]:
    """Build the settings tree. `overrides` (used by tests) is applied last."""
    environ = os.environ if environ is None else environ
    with DEFAULTS_FILE.open("rb") as fh:
        settings: dict[str, Any] = tomllib.load(fh)
    extra_file = config_file(environ, from_checkout)
    if extra_file:
        try:
            with open(extra_file, "rb") as fh:
                _merge(settings, tomllib.load(fh), extra_file)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read the settings file {extra_file}: {exc}") from exc
    _merge(settings, _env_overrides(settings, environ), "environment")
    if overrides:
        _merge(settings, copy.deepcopy(dict(overrides)), "overrides")
    _resolve_paths(settings, from_checkout)
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
    """The settings tree (as loaded: idhub/defaults/idhub.toml, IDHUB_CONFIG, IDHUB_* variables) and
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
