package e2e

import (
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestKill9DuringDeliveryRetriedAtRestart kills the server with SIGKILL
// while a delivery to a remote MX is under way (the MX stalls in DATA), with
// the default half-hour lease: the restarted server must take the dead
// process's claim back at start (its data folder lock proves it dead) and
// deliver within seconds, not after the lease (issue 13).
func TestKill9DuringDeliveryRetriedAtRestart(t *testing.T) {
	t.Parallel()
	dnsSrv := remoteDNS(t)
	sink := startMailSink(t)

	dir := filepath.Join(t.TempDir(), "data")
	mustCLI(t, "", nil, "domain", "add", sendDomain, "--data="+dir)
	mustCLI(t, "", nil, "user", "add", sendAnn, "--password="+sendPassword, "--data="+dir)
	srv := newServer(t, dir,
		"YUBIN_SUBMISSION_ADDR=127.0.0.1:0",
		"YUBIN_DNS="+dnsSrv.LocalAddr().String(),
		"YUBIN_OUTBOUND_PORT="+strconv.Itoa(sink.port),
		"YUBIN_OUTBOUND_LEASE=1h",
	)
	startSending(t, srv)

	id := "<reclaim.1@" + sendDomain + ">"
	if err := submit(srv, sendAnn, sendAnn, []string{rcptStall}, sendMsg(id, "Interrupted", rcptStall)); err != nil {
		t.Fatalf("submission: %v", err)
	}
	select {
	case <-sink.stalled:
	case <-time.After(30 * time.Second):
		t.Fatal("the delivery never reached DATA")
	}
	srv.kill9()
	close(sink.release) // the stalled DATA fails: the connection is gone
	startSending(t, srv)
	sink.wait(t, id, 1, 30*time.Second)
	if n, tries := sink.count(id), sink.tries(id); n != 1 || tries != 2 {
		t.Errorf("accepted %d times in %d DATA commands, want once in 2", n, tries)
	}
	srv.stop()
}
