#!/usr/bin/env bash
# Installs the system packages the tests talk to (Debian and Ubuntu). .ci/run
# calls it after `apt-get update`; run it yourself the same way to have every
# test run instead of skip:
#
#   sudo apt-get update && sudo .ci/install-test-deps.sh
#
# Go tests never install anything: a test whose peer is missing skips with
# the reason, or fails when YUBIN_TEST_PEERS=required (set by .ci/run).
set -euo pipefail

# One package per line, with the tests that need it. A new test that needs
# a system tool adds its package here.
packages=(
	chromium      # web-admin: the dashboard's browser test (headless)
	clamav-daemon # filters/clamd: a real clamd (the tests build their own signature database, no freshclam run)
	clamav        # filters/clamd: sigtool, to make that database
	clamav-milter # filters/milter, mta: a real libmilter milter (EICAR refused, clean mail passes)
	opendkim      # filters/milter, mta: a second real milter (its Authentication-Results field)
	python3       # scripts of the tests and benchmarks that drive a peer; imapserver: Python's imaplib as a client
	python3-authres # filters/authn: an independent parser of every Authentication-Results field we write
	python3-dkim  # mta/arc, mta: dkimpy, an independent DKIM and ARC verifier of the mail we forward
	fonts-noto-cjk # web-admin: Japanese glyphs, so the browser test's layout checks measure real text
	isync         # tests/e2e: mbsync, a real IMAP client (Maildir sync both ways)
	fetchmail     # tests/e2e: fetchmail over IMAP and POP3
	neomutt       # tests/e2e, imapserver: neomutt, driven in tmux (also opening a shared mailbox)
	tmux          # tests/e2e, imapserver: the terminal neomutt runs in
	iproute2      # tests/e2e: `ip`, to give a private network namespace IPv6 addresses
	util-linux    # tests/e2e: `unshare`, to make that namespace
	sieve-connect # managesieve, tests/e2e: a real ManageSieve client (STARTTLS, PLAIN, upload/list/activate/download)
	oathtool      # mailstore: TOTP codes from an independent RFC 6238 implementation
	swaks         # tests/e2e: SMTP submission with an app password
	zbar-tools    # api: zbarimg reads the TOTP enrolment QR code back
	postfix       # mta: smtp-sink, a real receiving MTA for forwarded mail (the Postfix daemon itself is not used)
	dovecot-imapd # internal/importer, api: Dovecot as the old server mail is imported from (IMAP, Maildir++)
	pebble        # internal/acme, cmd/yubin: the ACME test server (certificates for every listener, HTTP-01 and TLS-ALPN-01)
	postgresql    # .ci/test: the second pass (store, API, IMAP, POP3, mta, tests/e2e) on PostgreSQL, a cluster of its own (.ci/postgres.sh)
)

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-test-deps: no apt-get; install these packages (or their equivalents) yourself: ${packages[*]}" >&2
	exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-test-deps: run as root (or install sudo): apt-get install ${packages[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y "${packages[@]}"

# clamav-daemon pulls in clamav-freshclam, whose service downloads signatures
# from the internet. The tests do not need it (they start their own clamd on
# a private socket): stop it where a service manager runs it.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	"${sudo[@]}" systemctl disable --now clamav-freshclam.service clamav-daemon.service >/dev/null 2>&1 || true
fi
