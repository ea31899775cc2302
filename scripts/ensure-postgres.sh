#!/usr/bin/env bash
# Make sure a local PostgreSQL answers on 127.0.0.1:5432 and user postgres may connect without a password.
set -euo pipefail

HOST=127.0.0.1
PORT=5432
TRUST_LINE="host all postgres 127.0.0.1/32 trust"

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    SUDO=(sudo)
fi

ready() { pg_isready -q -h "$HOST" -p "$PORT" 2>/dev/null; }

if command -v pg_isready >/dev/null && ready; then
    echo "ensure-postgres: already answering on $HOST:$PORT"
    exit 0
fi

if ! dpkg-query -W -f='${db:Status-Status}' postgresql 2>/dev/null | grep -qx installed; then
    echo "ensure-postgres: installing postgresql"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
fi

# The newest cluster version Debian created (e.g. /etc/postgresql/15/main).
version=$(find /etc/postgresql -mindepth 2 -maxdepth 2 -name main -printf '%h\n' 2>/dev/null \
    | xargs -rn1 basename | sort -V | tail -n1)
if [[ -z $version ]]; then
    echo "ensure-postgres: no cluster under /etc/postgresql/<version>/main" >&2
    exit 1
fi
hba=/etc/postgresql/$version/main/pg_hba.conf

# Trust postgres over loopback (dev and test machines only), ahead of any stricter rule.
if ! "${SUDO[@]}" grep -Eq "^[[:space:]]*host[[:space:]]+all[[:space:]]+postgres[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust" "$hba"; then
    echo "ensure-postgres: adding '$TRUST_LINE' to $hba"
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
    echo "ensure-postgres: starting cluster $version/main"
    "${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi

for _ in $(seq 60); do
    if ready; then
        echo "ensure-postgres: ready on $HOST:$PORT"
        exit 0
    fi
    sleep 1
done
echo "ensure-postgres: PostgreSQL did not answer on $HOST:$PORT within 60 s" >&2
exit 1
