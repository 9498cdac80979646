#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 and lets the tests in as `postgres`
# without a password (trust on loopback), installing and starting it if needed.
set -euo pipefail
host=127.0.0.1
port=5432
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

ready() { pg_isready -q -h "$host" -p "$port" 2>/dev/null; }

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  "$(dirname "$0")/apt-install.sh" postgresql postgresql-client
fi
if ! ready; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do ready && break; sleep 1; done
fi
ready || { echo "PostgreSQL does not answer on $host:$port" >&2; exit 1; }

if ! psql -h "$host" -p "$port" -U postgres -d postgres -Atqc "select 1" >/dev/null 2>&1; then
  # A fresh install asks loopback clients for a password: trust them, as the tests expect.
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  $sudo sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  sleep 1
  psql -h "$host" -p "$port" -U postgres -d postgres -Atqc "select 1" >/dev/null
fi
echo "PostgreSQL ready on $host:$port"
