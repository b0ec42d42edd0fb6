#!/usr/bin/env bash
# Install the Debian 12 packages parkfeed builds, tests and demos with. Idempotent: when
# everything is installed already it changes nothing and does not touch the network.
#
# The postgresql-15 package may create and start a system cluster (15/main on port 5432),
# mosquitto a system broker (port 1883) and prometheus a server (port 9090). parkfeed's tests
# and demo never use them: they run their own throwaway servers on free loopback ports
# (tests/lib/env.sh), and need only promtool of the prometheus package.
set -euo pipefail

packages=(
	# build
	build-essential cmake pkg-config
	libmosquitto-dev libuv1-dev libpq-dev libjansson-dev libinih-dev zlib1g-dev
	libsystemd-dev libmicrohttpd-dev
	# parkfeedctl broker sync --offline: the broker's password hashes (libcrypto)
	libssl-dev
	# tests and demo
	libcmocka-dev mosquitto mosquitto-clients postgresql-15 postgresql-client-15
	faketime valgrind tzdata iproute2 procps util-linux ncurses-bin
	# parkfeed-api's tests (python3 checks answers against the database) and benchmark
	python3 wrk
	# the contract's examples against its JSON Schemas (tests/integration/contract_*.sh)
	python3-jsonschema
	# systemd units, metrics and the Debian package (tests/integration/{metrics,package}.sh)
	curl systemd dpkg-dev adduser
	# the Debian package: its build, lintian, the previous release from git, hardening checks
	# (tests/integration/{package,hardening}.sh)
	debhelper lintian git binutils
	# promtool for the alert rules and the dashboards' PromQL, jq for the dashboards
	# (tests/integration/{prometheus_rules,dashboards}.sh)
	prometheus jq
	# the web page's libraries (the package depends on them; build/web links them), and its
	# test in a real browser (tests/integration/web.sh), with a Chinese font for screenshots
	libjs-leaflet libjs-chart.js
	chromium chromium-driver python3-selenium fonts-wqy-microhei
	# fuzzing
	clang libclang-rt-14-dev openssl
	# the formatting check (scripts/test.sh)
	clang-format
)

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done

if (( ${#missing[@]} == 0 )); then
	echo "deps: all ${#packages[@]} packages installed"
	exit 0
fi

sudo=()
if (( EUID != 0 )); then
	command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
	sudo=(sudo)
fi

# A mirror that hiccups gets two more chances.
apt() {
	local try
	for try in 1 2 3; do
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q "$@" && return 0
		echo "deps: apt-get $1 failed (attempt $try)" >&2
		sleep $(( try * 5 ))
	done
	return 1
}

echo "deps: installing ${missing[*]}"
apt update
apt install -y --no-install-recommends "${missing[@]}"
