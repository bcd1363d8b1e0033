package queue

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/yubinmail/yubin/mailstore/mailstoretest"
)

const queueCrashEnv = "YUBIN_TEST_QUEUE_CRASH_DIR"

// TestQueueCrashHelper is the process TestQueueSurvivesKill kills: it queues
// messages from several goroutines, printing "<id> <token>" after each
// Enqueue returns (the moment an SMTP client would get its 250).
func TestQueueCrashHelper(t *testing.T) {
	dir := os.Getenv(queueCrashEnv)
	if dir == "" {
		t.Skip("run by TestQueueSurvivesKill")
	}
	s := openQueueAt(t, dir)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				token := fmt.Sprintf("g%d-%d", g, i)
				m, err := s.Enqueue(context.Background(), Input{
					Body:       strings.NewReader("Subject: " + token + "\n\n" + strings.Repeat("x", 100*i%5000) + "\n"),
					From:       "ann@example.com",
					Recipients: []string{"a@one.example", "b@two.example"},
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Printf("%d %s\n", m.ID, token)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestQueueSurvivesKill kills a process that is queueing mail (SIGKILL) and
// checks that every acknowledged message is in the queue, whole, once, and
// that no half-queued message is visible.
func TestQueueSurvivesKill(t *testing.T) {
	if testing.Short() || os.Getenv(queueCrashEnv) != "" {
		t.Skip()
	}
	dir := t.TempDir()
	mailstoretest.DSNIn(t, dir) // made here (and dropped at the end), found in dir by the helper
	cmd := exec.Command(os.Args[0], "-test.run=^TestQueueCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), queueCrashEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int64]string{}
	sc := bufio.NewScanner(out)
	for len(acked) < 200 && sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		id, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		acked[id] = f[1]
	}
	cmd.Process.Kill()
	go io.Copy(io.Discard, out)
	cmd.Wait()
	if len(acked) < 200 {
		t.Fatalf("helper stopped after %d messages", len(acked))
	}

	ctx := context.Background()
	s := openQueueAt(t, dir)
	defer s.Close()
	items, err := s.List(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]int64{}
	for _, it := range items {
		if len(it.Recipients) != 2 {
			t.Fatalf("message %d has %d recipients", it.Message.ID, len(it.Recipients))
		}
		rc, err := s.OpenBody(ctx, &it.Message)
		if err != nil {
			t.Fatalf("message %d: %v", it.Message.ID, err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || int64(len(data)) != it.Message.Size {
			t.Fatalf("message %d: %d bytes of %d: %v", it.Message.ID, len(data), it.Message.Size, err)
		}
		token, _, _ := strings.Cut(strings.TrimPrefix(string(data), "Subject: "), "\r\n")
		if other, dup := tokens[token]; dup {
			t.Fatalf("%s queued twice: %d and %d", token, other, it.Message.ID)
		}
		tokens[token] = it.Message.ID
	}
	for id, token := range acked {
		if tokens[token] != id {
			t.Fatalf("acknowledged message %d (%s) lost", id, token)
		}
	}
	t.Logf("%d acknowledged, %d queued after the kill", len(acked), len(items))
}
