"""Two ways to send doveadm commands to Dovecot, with one shape: a list of `Command`s in,
one `Reply` per command out (its output and exit code), in order.

* `DoveadmHttp`: Dovecot's doveadm HTTP API (`service doveadm { inet_listener http }`,
  Basic auth `doveadm:<doveadm_password>`; over https, `ssl = yes` on the listener, when
  the hub is not on the mail host: the password and the commands cross the network).
  One POST carries many commands as a JSON array `[[name, parameters, tag], …]`;
  Dovecot runs them in one doveadm process and answers one entry per tag. A command
  costs ~1 ms this way instead of a ~15 ms `doveadm` process (bench/mail.py measures
  both).
* `DoveadmCli`: one `doveadm -c FILE …` process per command (no listener to configure).

Both raise `TargetUnavailable` when Dovecot is away (refused connection, a timeout, the
HTTP server closing on us) and `TargetMisconfigured` when it refuses the hub itself
(wrong password, no doveadm binary). A command that fails only answers its own exit
code: the caller decides what that means for the operation it belongs to.

Dovecot quirks this works around (2.3): the auth master refuses a request line over
1 KiB, so `auth cache flush` takes users in chunks (`flush_chunks`); `kick` takes one
user mask; a doveadm server process that ran a mail command as a user has dropped its
privileges and can no longer reach anvil, so kicks go before any mail command.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from connectors.base import TargetMisconfigured, TargetUnavailable

__all__ = ["Command", "DoveadmCli", "DoveadmHttp", "Reply", "Transport", "flush_chunks"]

EX_USAGE = 64
EX_TEMPFAIL = 75
_AUTH_LINE_BYTES = 900  # Dovecot's auth master refuses lines over 1024 bytes


@dataclass(frozen=True)
class Command:
    """One doveadm command by its HTTP API name and parameters (e.g. "user",
    {"userMask": ["annv"]})."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """A command's outcome: exit code (0 = done) and output (the API's JSON shape)."""

    code: int
    output: Any = None
    detail: str = ""


class Transport(Protocol):
    """How commands reach Dovecot."""

    batches_users: bool  # may one "user" command look up several users at once

    def run(self, commands: Sequence[Command]) -> list[Reply]: ...


def flush_chunks(users: Sequence[str]) -> Iterator[list[str]]:
    """Users for `auth cache flush`, in chunks whose request line stays under 1 KiB."""
    chunk: list[str] = []
    size = 0
    for user in users:
        if chunk and size + len(user) + 1 > _AUTH_LINE_BYTES:
            yield chunk
            chunk, size = [], 0
        chunk.append(user)
        size += len(user) + 1
    if chunk:
        yield chunk


# ---------------------------------------------------------------------------- HTTP


class DoveadmHttp:
    """Dovecot's doveadm HTTP API: many commands per POST (`max_commands`)."""

    batches_users = True

    def __init__(
        self,
        url: str,
        password: str,
        *,
        timeout_s: float = 10.0,
        max_commands: int = 500,
        ca_file: str = "",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TargetMisconfigured(
                f"mail: {url!r} is not an http:// or https:// doveadm API address"
            )
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._tls: ssl.SSLContext | None = None
        if parts.scheme == "https":  # the server's certificate and name are checked
            try:
                self._tls = ssl.create_default_context(cafile=ca_file or None)
            except OSError as exc:
                raise TargetMisconfigured(f"mail: doveadm_ca_file {ca_file!r}: {exc}") from exc
        self.path = parts.path or "/doveadm/v1"
        self.timeout_s = timeout_s
        self.max_commands = max_commands
        token = base64.b64encode(f"doveadm:{password}".encode()).decode()
        self._headers = {
            "Authorization": f"Basic {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def __repr__(self) -> str:  # never the password
        return f"DoveadmHttp({self.url!r})"

    def run(self, commands: Sequence[Command]) -> list[Reply]:
        replies: list[Reply] = []
        for start in range(0, len(commands), self.max_commands):
            replies.extend(self._post(commands[start : start + self.max_commands]))
        return replies

    def _post(self, commands: Sequence[Command]) -> list[Reply]:
        body = json.dumps([[c.name, c.params, f"c{n}"] for n, c in enumerate(commands)])
        # A fresh connection per POST: Dovecot's doveadm server ends the connection
        # (and its process) after one request.
        conn = (
            http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout_s, context=self._tls
            )
            if self._tls is not None
            else http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        )
        try:
            conn.request("POST", self.path, body=body.encode(), headers=self._headers)
            response = conn.getresponse()
            raw = response.read()
        except ssl.SSLCertVerificationError as exc:
            raise TargetMisconfigured(
                f"mail: the doveadm API at {self.url} has a certificate the hub does not "
                f"trust ({exc.verify_message}): set [mail] doveadm_ca_file"
            ) from exc
        except TimeoutError as exc:
            raise TargetUnavailable(
                f"mail: Dovecot is not answering: the doveadm API at {self.url} did not "
                f"answer in {self.timeout_s:g} s"
            ) from exc
        except (OSError, http.client.HTTPException) as exc:
            raise TargetUnavailable(
                f"mail: Dovecot is not answering: the doveadm API at {self.url}: {exc}"
            ) from exc
        finally:
            conn.close()
        if response.status in (401, 403):
            raise TargetMisconfigured(
                f"mail: doveadm API at {self.url} refused the hub (HTTP {response.status}): "
                "is [mail] doveadm_password Dovecot's doveadm_password?"
            )
        if response.status != 200:
            detail = " ".join(raw.decode(errors="replace").split())[:300]
            raise TargetUnavailable(f"mail: doveadm API answered HTTP {response.status}: {detail}")
        try:
            answers = {tag: (kind, value) for kind, value, tag in json.loads(raw)}
        except (ValueError, TypeError) as exc:
            raise TargetUnavailable(f"mail: doveadm API answered no JSON list: {exc}") from exc
        replies = []
        for n, command in enumerate(commands):
            kind, value = answers.get(f"c{n}", ("error", {"exitCode": EX_TEMPFAIL}))
            if kind == "doveadmResponse":
                replies.append(Reply(0, value))
            else:
                code = value.get("exitCode", EX_USAGE) if isinstance(value, dict) else EX_USAGE
                replies.append(Reply(int(code), None, f"{command.name}: {value}"))
        return replies


# ---------------------------------------------------------------------------- binary


def _argv(command: Command) -> list[str]:
    """The doveadm command line of an API command (only those the connector sends)."""
    p = command.params
    match command.name:
        case "authCacheFlush":
            return ["auth", "cache", "flush", *p.get("user", ())]
        case "user":
            (mask,) = p["userMask"]  # one user per process (see batches_users)
            return ["-f", "tab", "user", mask]
        case "kick":
            (mask,) = p["mask"]
            return ["kick", mask]
        case "aclGet":
            return ["-f", "tab", "acl", "get", "-u", p["user"], p["mailbox"]]
        case "aclSet":
            return ["acl", "set", "-u", p["user"], p["mailbox"], p["id"], *p["right"]]
        case "aclDelete":
            return ["acl", "delete", "-u", p["user"], p["mailbox"], p["id"]]
        case "aclRecalc":
            return ["acl", "recalc", "-u", p["user"]]
        case "who":
            return ["who"]
        case "mailboxStatus":
            return ["-f", "tab", "mailbox", "status", "-u", p["user"], *p["field"],
                    *p["mailboxMask"]]  # fmt: skip
        case "fsStat" | "fsIter" | "fsIterDirs":
            verb = {"fsStat": "stat", "fsIter": "iter", "fsIterDirs": "iter-dirs"}[command.name]
            return ["-f", "tab", "fs", verb, p["fsDriver"], p["fsArgs"], p["path"]]
        case "fsCopy":
            return ["fs", "copy", p["fsDriver"], p["fsArgs"], p["sourcePath"],
                    p["destinationPath"]]  # fmt: skip
        case "fsPut":
            return ["fs", "put", p["fsDriver"], p["fsArgs"], p["inputPath"], p["path"]]
        case "fsDelete":
            return ["fs", "delete", p["fsDriver"], p["fsArgs"], *p["path"]]
    raise ValueError(f"no doveadm command line for {command.name!r}")


def _tab_rows(text: str) -> list[dict[str, str]]:
    lines = [line for line in text.splitlines() if line]
    if not lines:
        return []
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:]]


class DoveadmCli:
    """One `doveadm -c <dovecot.conf> …` process per command."""

    batches_users = False

    def __init__(self, doveadm: str, config: str, *, timeout_s: float = 10.0) -> None:
        self.doveadm = doveadm
        self.config = config
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"DoveadmCli({self.doveadm} -c {self.config})"

    def run(self, commands: Sequence[Command]) -> list[Reply]:
        return [self._run(command) for command in commands]

    def _run(self, command: Command) -> Reply:
        argv = [self.doveadm, "-c", self.config, *_argv(command)]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.timeout_s, check=False
            )
        except FileNotFoundError as exc:
            raise TargetMisconfigured(f"mail: {self.doveadm} not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise TargetUnavailable(
                f"mail: doveadm did not answer in {self.timeout_s:g} s"
            ) from exc
        detail = " ".join((done.stderr or done.stdout).split())[:500]
        # doveadm exits 0 for some failures and says so on stderr (auth cache flush).
        refused = "connect(" in done.stderr or "net_connect_unix(" in done.stderr
        if done.returncode == EX_TEMPFAIL or refused:
            raise TargetUnavailable(f"mail: Dovecot is not answering: {detail}")
        if done.returncode != 0:
            return Reply(done.returncode, None, detail)
        rows = _tab_rows(done.stdout)
        if command.name == "user":
            fields = {row.get("field", ""): row.get("value", "") for row in rows}
            return Reply(0, {command.params["userMask"][0]: fields})
        return Reply(0, rows)
