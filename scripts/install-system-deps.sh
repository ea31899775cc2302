#!/usr/bin/env bash
# Install the Debian packages IDHub needs (slapd, mail stack, python-ldap build deps); idempotent.
set -euo pipefail

PACKAGES=(
    slapd ldap-utils libldap2-dev libsasl2-dev               # directory + python-ldap build
    postfix postfix-ldap dovecot-imapd dovecot-lmtpd dovecot-ldap  # throwaway mail stack
    python3-venv python3-dev gcc                          # the virtualenv; python-ldap compiles
    jq                                                    # README examples read var/run/env.json
    chromium                                              # headless browser test of the sign-in pages
)

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    SUDO=(sudo)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [[ $status != installed ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-system-deps: all ${#PACKAGES[@]} packages already installed"
    exit 0
fi

echo "install-system-deps: installing ${missing[*]}"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
# Debconf would ask for a slapd admin password and a Postfix mail type: take the defaults.
# The hub never uses the system-wide slapd/Postfix/Dovecot; it starts its own on loopback.
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    "${missing[@]}"
echo "install-system-deps: done"
