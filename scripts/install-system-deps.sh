#!/usr/bin/env bash
# Install the Debian packages IDHub needs (slapd, mail stack, python-ldap build deps); idempotent.
# Says which packages are missing and why each is needed before apt-get installs them.
set -euo pipefail

STEP=${STEP:-"[*]"}
say() { echo "$STEP install-system-deps: $*"; }

# package → why (shown before installing)
declare -A WHY=(
    [slapd]="the throwaway directory server the dev stack and tests start"
    [ldap-utils]="ldapsearch and friends, to look at that directory"
    [libldap2-dev]="python-ldap compiles against it"
    [libsasl2-dev]="python-ldap compiles against it"
    [postfix]="the throwaway mail server (SMTP)"
    [postfix-ldap]="Postfix reads the accounts from the directory"
    [dovecot-imapd]="the throwaway mailbox server (IMAP)"
    [dovecot-lmtpd]="Postfix hands mail to Dovecot over LMTP"
    [dovecot-ldap]="Dovecot reads the accounts from the directory"
    [python3-venv]="the project's virtualenv (.venv)"
    [python3-dev]="python-ldap and argon2 compile against it"
    [gcc]="python-ldap compiles"
    [jq]="README examples read var/run/env.json"
    [chromium]="the headless browser test of the sign-in pages"
)
PACKAGES=(
    slapd ldap-utils libldap2-dev libsasl2-dev
    postfix postfix-ldap dovecot-imapd dovecot-lmtpd dovecot-ldap
    python3-venv python3-dev gcc
    jq
    chromium
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
    say "all ${#PACKAGES[@]} Debian packages already installed"
    exit 0
fi

say "${#missing[@]} Debian package(s) to install with apt-get${SUDO:+ (through sudo: it may ask for your password)}:"
for pkg in "${missing[@]}"; do
    printf '      %-14s %s\n' "$pkg" "${WHY[$pkg]}"
done
say "Nothing is asked (debconf takes its defaults). Debian starts the system's own slapd,"
say "Postfix and Dovecot services after installing them; the hub never uses those (it starts"
say "its own on loopback ports, configured under var/) and changes none of their settings."
say "[1/2] apt-get update"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
say "[2/2] apt-get install (download and set-up progress below)"
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
say "done"
