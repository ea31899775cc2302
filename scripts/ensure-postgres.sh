#!/usr/bin/env bash
# Make sure a local PostgreSQL answers on 127.0.0.1:5432 and user postgres may connect without a password.
# Says what it changes on the system (a package, a pg_hba.conf line, the cluster) before doing it.
set -euo pipefail

STEP=${STEP:-"[*]"}
say() { echo "$STEP ensure-postgres: $*"; }

HOST=127.0.0.1
PORT=5432
TRUST_LINE="host all postgres 127.0.0.1/32 trust"

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    SUDO=(sudo)
fi

ready() { pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null; }

if command -v pg_isready >/dev/null && ready; then
    say "already answering on $HOST:$PORT, nothing to change"
    exit 0
fi

if ! dpkg-query -W -f='${db:Status-Status}' postgresql 2>/dev/null | grep -qx installed; then
    say "installing the Debian package postgresql with apt-get${SUDO:+ (through sudo)}: the"
    say "database server the tests also run on (Debian creates and starts a cluster)"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
fi

# The newest cluster version Debian created (e.g. /etc/postgresql/15/main).
version=$(find /etc/postgresql -mindepth 2 -maxdepth 2 -name main -printf '%h\n' 2>/dev/null \
    | xargs -rn1 basename | sort -V | tail -n1)
if [[ -z $version ]]; then
    echo "$STEP ensure-postgres: no cluster under /etc/postgresql/<version>/main" >&2
    exit 1
fi
hba=/etc/postgresql/$version/main/pg_hba.conf

# Trust postgres over loopback (dev and test machines only), ahead of any stricter rule.
if ! "${SUDO[@]}" grep -Eq "^[[:space:]]*host[[:space:]]+all[[:space:]]+postgres[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust" "$hba"; then
    say "adding the line '$TRUST_LINE' at the top of $hba:"
    say "user postgres may connect from 127.0.0.1 without a password (a dev or test machine"
    say "only; remove the line to undo), then reloading the cluster"
    tmp=$(mktemp)
    { echo "$TRUST_LINE"; "${SUDO[@]}" cat "$hba"; } >"$tmp"
    "${SUDO[@]}" install -m 0640 -o postgres -g postgres "$tmp" "$hba"
    rm -f "$tmp"
    changed=1
else
    changed=0
fi

if "${SUDO[@]}" pg_ctlcluster "$version" main status >/dev/null 2>&1; then
    if [[ $changed -eq 1 ]]; then
        "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main reload
    fi
else
    say "starting the PostgreSQL cluster $version/main (pg_ctlcluster)"
    "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi

for _ in $(seq 60); do
    if ready; then
        say "ready on $HOST:$PORT"
        exit 0
    fi
    sleep 1
done
echo "$STEP ensure-postgres: PostgreSQL did not answer on $HOST:$PORT within 60 s" >&2
exit 1
