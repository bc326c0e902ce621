#!/usr/bin/env bash
# System packages the tests use: Samba AD DC (real AD), PostgreSQL (audit store, sync DB),
# unixODBC + FreeTDS (pyodbc's driver for the SQL Server dialect), OpenSSL, ldap-utils,
# Graphviz (the `dot` binary the graphviz package runs for the data map's diagram).
# Idempotent; needs root on a machine without them.
set -euo pipefail
pkgs=(samba samba-ad-dc samba-ad-provision ldap-utils openssl unixodbc tdsodbc postgresql graphviz)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && { echo "[deps] system packages present"; exit 0; }
echo "[deps] installing: ${missing[*]}"
# Keep package scripts from starting system-wide daemons (smbd, samba-ad-dc, postgresql).
made_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/mimbot-apt.log 2>&1 || {
  apt-get update -q >>/tmp/mimbot-apt.log 2>&1
  apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/mimbot-apt.log 2>&1 \
    || { tail -30 /tmp/mimbot-apt.log >&2; exit 1; }
}
[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
echo "[deps] installed"
