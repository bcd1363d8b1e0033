package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestReadmeExamples runs the README as a new admin does, in order: the
// Quickstart's commands (step 2), then the REST API examples, on one fresh
// data folder. Every command must succeed: no 409 because one example
// makes what another made already.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := shellBlocks(string(readme))
	var quickstart, rest []string
	for _, b := range blocks {
		switch {
		case quickstart == nil && strings.Contains(b, "./yubin domain add"):
			quickstart = commandLines(b)
		case rest == nil && strings.Contains(b, "TOKEN=$(curl"):
			rest = commandLines(b)
		}
	}
	if len(quickstart) == 0 || len(rest) == 0 {
		t.Fatalf("README: Quickstart commands %q, REST examples %q", quickstart, rest)
	}

	const adminPW = "readme-admin-password"
	dir := filepath.Join(t.TempDir(), "data")
	srv := newServer(t, dir, "YUBIN_ADMIN_EMAIL=admin@mail.example.com", "YUBIN_ADMIN_PASSWORD="+adminPW)
	srv.start()

	for _, line := range quickstart {
		args := shellWords(t, line)
		if args[0] != "./yubin" {
			t.Fatalf("Quickstart command %q does not run ./yubin", line)
		}
		mustCLI(t, "quickstart-password\n", []string{"YUBIN_DATA=" + dir}, args[1:]...)
	}

	client := &http.Client{Timeout: 30 * time.Second}
	curlURL := regexp.MustCompile(`curl -s localhost:8080(\S+)`)
	curlData := regexp.MustCompile(`-d '([^']*)'`)
	token := ""
	for _, line := range rest {
		u := curlURL.FindStringSubmatch(line)
		if u == nil {
			t.Fatalf("REST example %q: no curl localhost:8080", line)
		}
		method, body := http.MethodGet, ""
		if d := curlData.FindStringSubmatch(line); d != nil {
			method, body = http.MethodPost, strings.ReplaceAll(d[1], `"password":"..."`, `"password":"`+adminPW+`"`)
		}
		req, err := http.NewRequest(method, "http://"+srv.addrs["http"]+u[1], bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if strings.Contains(line, "$TOKEN") {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("README example %s %s: %d %s", method, u[1], resp.StatusCode, out)
		}
		if strings.HasPrefix(line, "TOKEN=") {
			var pair struct {
				Token string `json:"token"`
			}
			if err := json.Unmarshal(out, &pair); err != nil || pair.Token == "" {
				t.Fatalf("login answer %s: %v", out, err)
			}
			token = pair.Token
		}
	}
}

// shellBlocks returns the contents of the README's ```sh blocks.
func shellBlocks(md string) []string {
	var out []string
	for _, part := range strings.Split(md, "```sh\n")[1:] {
		if end := strings.Index(part, "```"); end >= 0 {
			out = append(out, part[:end])
		}
	}
	return out
}

// commandLines returns a block's commands: continuation lines joined,
// comments, prompts and blank lines left out.
func commandLines(block string) []string {
	var out []string
	cur := ""
	for _, l := range strings.Split(block, "\n") {
		l = strings.TrimSpace(l)
		if cur == "" && (l == "" || strings.HasPrefix(l, "#")) {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		out = append(out, cur+l)
		cur = ""
	}
	return out
}

// shellWords splits a command line like a shell: words, double-quoted
// strings, and a trailing comment.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var w strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == '#' && !quoted && !inWord:
			if len(words) == 0 {
				t.Fatalf("%q: only a comment", line)
			}
			return words
		case r == ' ' && !quoted:
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}
