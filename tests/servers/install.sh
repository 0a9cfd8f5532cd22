#!/usr/bin/env bash
# Installs the servers and tools the test suite starts by itself: PostgreSQL (initdb/pg_ctl),
# Chromium (driven by Playwright for the browser tests), ngIRCd, InspIRCd and Anope, Prometheus
# (and its promtool), and Synapse
# in a virtualenv of its own (see tests/servers/synapse.py; end-to-end encryption uses
# vodozemac, no libolm).
# Needs root (or sudo) the first time on a machine that lacks them; a no-op afterwards.
set -euo pipefail

have_postgres() {
  command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

missing=()
have_postgres || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# IRC servers for the IRC transport's tests (Debian installs them in /usr/sbin).
for ircd in ngircd inspircd anope; do
  command -v "$ircd" >/dev/null 2>&1 || [[ -x /usr/sbin/$ircd ]] || missing+=("$ircd")
done

# Prometheus and promtool for the metrics tests (tests/servers/prometheus.py).
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || missing+=(prometheus)

# systemd-analyze checks contrib/systemd/statusdesk.service (it is in Debian's systemd
# package, which does not become PID 1 by being installed).
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# wrk and nginx for bench/page.py (statusdesk beside nginx serving its export; `make bench`).
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
{ command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]; } || missing+=(nginx-light)
# strace lists the system calls the bot makes, checked against the unit's filter.
command -v strace >/dev/null 2>&1 || missing+=(strace)

# Synapse: from PyPI into its own cached virtualenv (Twisted and its pins stay out of ours).
(cd "$(dirname "$0")/../.." && "${PYTHON:-python3}" -m tests.servers.synapse install)

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "tests/servers/install.sh: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "installing test servers: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's package starts a cluster of its own; the tests make their own, so leave it be.
