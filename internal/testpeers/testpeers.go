// Package testpeers decides what a test does when a peer it needs (a
// system tool or daemon such as clamd, Chromium, unshare) is missing: it
// skips with the reason, unless the environment says peers are required
// (YUBIN_TEST_PEERS=required, which .ci/run sets after installing them),
// in which case it fails. Tests never install anything themselves.
package testpeers

import (
	"fmt"
	"os"
	"testing"
)

// Env is the environment variable that makes missing peers fail tests.
const Env = "YUBIN_TEST_PEERS"

// Required reports whether missing peers must fail the tests.
func Required() bool { return os.Getenv(Env) == "required" }

// Missing ends the test because a peer is missing: a skip that says why,
// or a failure when peers are required. The message names the peer and,
// ideally, the package that provides it.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		tb.Fatalf("missing test peer: %s (%s=required: install it, see .ci/install-test-deps.sh)", msg, Env)
	}
	tb.Skipf("missing test peer: %s (set %s=required to make this a failure)", msg, Env)
}
