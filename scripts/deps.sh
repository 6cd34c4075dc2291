#!/usr/bin/env bash
# The system packages the tests run for real: Debian's redis-server and redis-cli (the shared
# rate limiter's tests start single nodes, a Cluster, sentinels and a TLS server on free loopback
# ports), openssl (the TLS tests' private CA and certificates), cmake (the C++ consumer project), pkg-config and
# valgrind (the C tests). Installs only what is missing, with apt-get (as root, or through sudo).
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
[ ${#need[@]} -eq 0 ] && exit 0
echo "deps: installing ${need[*]} with apt-get"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian's package starts a service where an init system runs; the tests start their own servers.
if pgrep -x redis-server >/dev/null 2>&1 && command -v service >/dev/null 2>&1; then
  "${sudo[@]}" service redis-server stop >/dev/null 2>&1 || true
fi
