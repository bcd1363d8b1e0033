#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL cluster for the tests.
#
#   dsn=$(.ci/postgres.sh start DIR)   # DIR: a new, empty folder (mktemp -d)
#   .ci/postgres.sh stop DIR           # stops the cluster and removes DIR
#
# `start` makes a cluster in DIR/data (initdb; fsync off: the data is
# thrown away), listening on 127.0.0.1 at a free port and on a unix socket
# in DIR only, with a superuser role `yubin` whose random password is in
# the DSN it prints on stdout:
#
#   postgres://yubin:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable
#
# (also written to DIR/dsn). Without DIR it makes one with mktemp -d and
# says on stderr which. PostgreSQL refuses to run as root: as root the
# cluster runs as the `postgres` user (Debian's package makes it), or
# `nobody`, and DIR is given to that user. The binaries are looked up in
# $PG_BIN, then PATH (initdb, pg_ctl), then /usr/lib/postgresql/*/bin
# (Debian's package `postgresql`, newest version first); without them it
# fails with exit status 3 and says so.
set -euo pipefail

die() {
	echo "postgres.sh: $*" >&2
	exit 1
}

find_bin() {
	local d
	if [ -n "${PG_BIN:-}" ]; then
		[ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ] && { echo "$PG_BIN"; return; }
		echo "postgres.sh: PG_BIN=$PG_BIN has no initdb and pg_ctl" >&2
		exit 3
	fi
	if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
		dirname "$(command -v pg_ctl)"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4 -rn); do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
			echo "$d"
			return
		fi
	done
	echo "postgres.sh: PostgreSQL's initdb and pg_ctl not found (install Debian's package postgresql, or set PG_BIN)" >&2
	exit 3
}

# as_owner runs a command as the user that owns the cluster.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$run_user" -- "$@"
	else
		"$@"
	fi
}

pick_user() {
	run_user=$(id -un)
	if [ "$(id -u)" -eq 0 ]; then
		if id postgres >/dev/null 2>&1; then
			run_user=postgres
		elif id nobody >/dev/null 2>&1; then
			run_user=nobody
		else
			die "running as root and neither a postgres nor a nobody user exists to run PostgreSQL as"
		fi
		command -v runuser >/dev/null 2>&1 || die "running as root needs runuser (util-linux) to run PostgreSQL as $run_user"
	fi
}

# free_port prints a TCP port nothing listens on at 127.0.0.1 now.
free_port() {
	local port i
	for i in $(seq 1 50); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	die "found no free port on 127.0.0.1"
}

start() {
	local dir=${1:-} bin pass port tries log
	bin=$(find_bin)
	pick_user
	if [ -z "$dir" ]; then
		dir=$(mktemp -d "${TMPDIR:-/tmp}/yubin-pg.XXXXXX")
		echo "postgres.sh: cluster in $dir (stop it with: $0 stop $dir)" >&2
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
	if [ "$(id -u)" -eq 0 ]; then
		chown "$run_user" "$dir"
		as_owner test -w "$dir" || die "$run_user cannot write $dir (is a parent folder closed to it?)"
	fi
	chmod 700 "$dir"
	pass=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
	printf '%s\n' "$pass" >"$dir/pwfile"
	[ "$(id -u)" -ne 0 ] || chown "$run_user" "$dir/pwfile"
	log="$dir/initdb.log"
	if ! as_owner "$bin/initdb" -D "$dir/data" -U yubin --pwfile="$dir/pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync \
		>"$log" 2>&1; then
		cat "$log" >&2
		die "initdb failed"
	fi
	rm -f "$dir/pwfile"
	cat >>"$dir/data/postgresql.conf" <<EOF

# postgres.sh: a throwaway cluster for tests
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 400
shared_buffers = 64MB
log_min_messages = warning
EOF
	for tries in 1 2 3 4 5; do
		port=$(free_port)
		if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-p $port" start >/dev/null 2>&1; then
			local dsn="postgres://yubin:$pass@127.0.0.1:$port/postgres?sslmode=disable"
			printf '%s\n' "$dsn" >"$dir/dsn"
			printf '%s\n' "$bin" >"$dir/bin"
			printf '%s\n' "$dsn"
			return
		fi
	done
	cat "$dir/server.log" >&2 2>/dev/null || true
	die "PostgreSQL did not start (log above)"
}

stop() {
	local dir=${1:-} bin
	[ -n "$dir" ] || die "usage: $0 stop DIR"
	[ -d "$dir" ] || return 0
	pick_user
	if [ -f "$dir/data/postmaster.pid" ]; then
		bin=$(cat "$dir/bin" 2>/dev/null || find_bin)
		as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 ||
			echo "postgres.sh: pg_ctl stop failed for $dir" >&2
	fi
	rm -rf "$dir"
}

case "${1:-}" in
start) start "${2:-}" ;;
stop) stop "${2:-}" ;;
*)
	echo "usage: $0 start [DIR] | stop DIR" >&2
	exit 2
	;;
esac
