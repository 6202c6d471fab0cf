#!/usr/bin/env bash
# Installs the Debian packages the platform needs on a fresh machine and does
# nothing when they are already there: the PostgreSQL server binaries (the
# local stack and the tests start their own throwaway clusters) and protoc.
set -euo pipefail

need=()
have_pg_server() {
  compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}
have_pg_server || need+=(postgresql)
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
# The console's browser tests drive Debian's Chromium (with its fonts).
command -v chromium >/dev/null 2>&1 || need+=(chromium fonts-dejavu-core)
# runuser ships with util-linux; the kits use it to run initdb as postgres when root.
command -v runuser >/dev/null 2>&1 || need+=(util-linux)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi

echo "installing Debian packages: ${need[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y --no-install-recommends "${need[@]}"; then
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends "${need[@]}"
fi
