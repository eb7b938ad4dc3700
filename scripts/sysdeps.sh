#!/usr/bin/env bash
# Install the system packages that browser and PostgreSQL tests need (Debian): headless
# Chromium for the report/service screenshots and a PostgreSQL server the tests start locally.
# Safe to run repeatedly; does nothing for what is already there. Needs root (CI is root);
# without root it prints what is missing and the tests that need it are skipped with a reason.
set -u
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "sysdeps: not root; missing Debian packages: ${need[*]} (browser/PostgreSQL tests will skip)" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" fonts-dejavu-core >/dev/null 2>&1 \
  || echo "sysdeps: apt-get install ${need[*]} failed (browser/PostgreSQL tests will skip)" >&2
exit 0
