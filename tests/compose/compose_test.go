// Package compose checks the container files at the top of the repository
// (Dockerfile, docker-compose.yml, .dockerignore) without a Docker engine:
// it parses them and compares them with the settings table of
// internal/config, so a renamed variable or moved default port shows up
// here rather than in a broken deployment.
package compose

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"

	"github.com/yubinmail/yubin/internal/config"
)

// root is the repository root, seen from this package's folder (go test
// runs in it).
const root = "../.."

// standardPorts maps each listener setting to the standard port the compose
// file publishes it on.
var standardPorts = map[string]string{
	"YUBIN_SMTP_ADDR":        "25",
	"YUBIN_SUBMISSION_ADDR":  "587",
	"YUBIN_SUBMISSIONS_ADDR": "465",
	"YUBIN_IMAP_ADDR":        "143",
	"YUBIN_IMAPS_ADDR":       "993",
	"YUBIN_POP3_ADDR":        "110",
	"YUBIN_POP3S_ADDR":       "995",
	"YUBIN_HTTPS_ADDR":       "443",
	"YUBIN_MANAGESIEVE_ADDR": "4190",
}

type composeFile struct {
	Services map[string]service `yaml:"services"`
	Volumes  map[string]any     `yaml:"volumes"`
}

type service struct {
	Image       string   `yaml:"image"`
	Build       any      `yaml:"build"`
	Profiles    []string `yaml:"profiles"`
	Restart     string   `yaml:"restart"`
	Environment any      `yaml:"environment"`
	Volumes     []string `yaml:"volumes"`
	Ports       []string `yaml:"ports"`
	Expose      []string `yaml:"expose"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	var c composeFile
	if err := yaml.Unmarshal(readFile(t, "docker-compose.yml"), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return c
}

// settingsByEnv indexes config.Settings by environment variable.
func settingsByEnv() map[string]config.Setting {
	m := make(map[string]config.Setting)
	for _, s := range config.Settings() {
		m[s.Env] = s
	}
	return m
}

// listenerPort is the port of a listener setting's default address (":2525").
func listenerPort(t *testing.T, env string) string {
	t.Helper()
	s, ok := settingsByEnv()[env]
	if !ok || !isListener(s) {
		t.Fatalf("%s is not a listener setting of internal/config", env)
	}
	i := strings.LastIndex(s.Default, ":")
	if i < 0 {
		t.Fatalf("%s: default %q has no port", env, s.Default)
	}
	return s.Default[i+1:]
}

// isListener reports whether s is a listener's address: YUBIN_*_ADDR,
// which an empty value turns off (YUBIN_SUBADDRESS_DELIMITER is off when
// empty too, but no address).
func isListener(s config.Setting) bool {
	return s.EmptyMeansOff && strings.HasSuffix(s.Env, "_ADDR")
}

// listenerPorts returns the default port of every listener, by setting.
func listenerPorts(t *testing.T) map[string]string {
	t.Helper()
	m := make(map[string]string)
	for _, s := range config.Settings() {
		if isListener(s) {
			m[s.Env] = listenerPort(t, s.Env)
		}
	}
	if len(m) == 0 {
		t.Fatal("internal/config has no listener settings")
	}
	return m
}

// environment turns the map or list form of "environment" into a map.
func environment(t *testing.T, v any) map[string]string {
	t.Helper()
	env := make(map[string]string)
	switch e := v.(type) {
	case nil:
	case map[string]any:
		for k, val := range e {
			if val == nil {
				env[k] = ""
			} else {
				env[k] = toString(val)
			}
		}
	case []any:
		for _, item := range e {
			k, val, _ := strings.Cut(toString(item), "=")
			env[k] = val
		}
	default:
		t.Fatalf("environment has unexpected type %T", v)
	}
	return env
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// publishedPorts parses the short port syntax "[IP:]HOST:CONTAINER[/PROTO]"
// into container port → host ports.
func publishedPorts(t *testing.T, ports []string) map[string][]string {
	t.Helper()
	m := make(map[string][]string)
	for _, p := range ports {
		spec, proto, _ := strings.Cut(p, "/")
		if proto != "" && proto != "tcp" {
			t.Errorf("port %q: protocol %q, want tcp", p, proto)
		}
		parts := strings.Split(spec, ":")
		if len(parts) < 2 {
			t.Errorf("port %q: want HOST:CONTAINER", p)
			continue
		}
		host, ctr := parts[len(parts)-2], parts[len(parts)-1]
		m[ctr] = append(m[ctr], host)
	}
	return m
}

func TestComposeServices(t *testing.T) {
	c := loadCompose(t)
	y, ok := c.Services["yubin"]
	if !ok {
		t.Fatal("no service yubin")
	}
	if y.Build == nil {
		t.Error("yubin: no build section (it is built from the Dockerfile)")
	}
	if len(y.Profiles) != 0 {
		t.Errorf("yubin: profiles %v; it must start without --profile", y.Profiles)
	}
	if y.Restart != "unless-stopped" {
		t.Errorf("yubin: restart %q, want unless-stopped", y.Restart)
	}
	for name, port := range map[string]string{"clamav": "3310", "rspamd": "11333"} {
		s, ok := c.Services[name]
		if !ok {
			t.Errorf("no service %s", name)
			continue
		}
		if !slices.Equal(s.Profiles, []string{"filters"}) {
			t.Errorf("%s: profiles %v, want only [filters]", name, s.Profiles)
		}
		if !strings.Contains(s.Image, name) {
			t.Errorf("%s: image %q", name, s.Image)
		}
		if len(s.Ports) != 0 {
			t.Errorf("%s: publishes %v on the host; the mail server reaches it on the compose network", name, s.Ports)
		}
		if !slices.Contains(s.Expose, port) {
			t.Errorf("%s: expose %v, want %s", name, s.Expose, port)
		}
	}
	profiles := map[string]string{"clamav": "filters", "rspamd": "filters",
		"postgres": "nodes", "yubin-node1": "nodes", "yubin-node2": "nodes"}
	for name, s := range c.Services {
		if want, ok := profiles[name]; name != "yubin" && (!ok || !slices.Equal(s.Profiles, []string{want})) {
			t.Errorf("service %s: profiles %v, want only [%s]", name, s.Profiles, want)
		}
	}
}

// TestComposeNodes checks the "nodes" profile: two Yubin nodes on the
// PostgreSQL service, sharing one blob volume, each with a data folder of
// its own (README: "Two nodes on PostgreSQL").
func TestComposeNodes(t *testing.T) {
	c := loadCompose(t)
	pg, ok := c.Services["postgres"]
	if !ok || !strings.HasPrefix(pg.Image, "postgres:") || len(pg.Ports) != 0 {
		t.Fatalf("postgres service: %+v (want a postgres image, not published on the host)", pg)
	}
	seenData := map[string]bool{}
	for _, name := range []string{"yubin-node1", "yubin-node2"} {
		n, ok := c.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		env := map[string]string{}
		switch e := n.Environment.(type) {
		case map[string]any:
			for k, v := range e {
				env[k] = fmt.Sprint(v)
			}
		default:
			t.Fatalf("%s: environment is %T, want a map", name, n.Environment)
		}
		if !strings.HasPrefix(env["YUBIN_DATABASE"], "postgres://") || !strings.Contains(env["YUBIN_DATABASE"], "@postgres:5432/") {
			t.Errorf("%s: YUBIN_DATABASE %q, want the postgres service", name, env["YUBIN_DATABASE"])
		}
		if env["YUBIN_BLOBS"] != "/blobs" || env["YUBIN_DATA"] != "/data" {
			t.Errorf("%s: YUBIN_BLOBS %q YUBIN_DATA %q", name, env["YUBIN_BLOBS"], env["YUBIN_DATA"])
		}
		if !slices.Contains(n.Volumes, "yubin-blobs:/blobs") {
			t.Errorf("%s: volumes %v, want the shared yubin-blobs:/blobs", name, n.Volumes)
		}
		for _, v := range n.Volumes {
			if vol, ok := strings.CutSuffix(v, ":/data"); ok {
				if seenData[vol] {
					t.Errorf("%s: data volume %s is another node's", name, vol)
				}
				seenData[vol] = true
			}
		}
		if n.Restart != "unless-stopped" || len(n.Healthcheck.Test) == 0 {
			t.Errorf("%s: restart %q, healthcheck %v", name, n.Restart, n.Healthcheck.Test)
		}
	}
	if len(seenData) != 2 {
		t.Errorf("data volumes %v, want one per node", seenData)
	}
}

func TestComposePorts(t *testing.T) {
	y := loadCompose(t).Services["yubin"]
	published := publishedPorts(t, y.Ports)
	for env, std := range standardPorts {
		ctr := listenerPort(t, env)
		if !slices.Contains(published[ctr], std) {
			t.Errorf("%s (container port %s) is published on %v, want host port %s", env, ctr, published[ctr], std)
		}
	}
	// Every published port is a listener's, on one host port each.
	known := make(map[string]bool)
	for _, p := range listenerPorts(t) {
		known[p] = true
	}
	for ctr, hosts := range published {
		if !known[ctr] {
			t.Errorf("container port %s (host %v) is no listener of yubin", ctr, hosts)
		}
		if len(hosts) != 1 {
			t.Errorf("container port %s is published %d times: %v", ctr, len(hosts), hosts)
		}
	}
}

// dataVolume returns the named volume mounted at /data in service yubin,
// failing the test if there is none.
func dataVolume(t *testing.T) string {
	t.Helper()
	c := loadCompose(t)
	y := c.Services["yubin"]
	var volume string
	for _, v := range y.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && parts[1] == "/data" {
			volume = parts[0]
		}
	}
	if volume == "" {
		t.Fatalf("yubin: nothing mounted at /data (volumes %v)", y.Volumes)
	}
	if strings.ContainsAny(volume, "./~") {
		t.Errorf("/data is a bind mount of %q, want a named volume", volume)
	}
	if _, ok := c.Volumes[volume]; !ok {
		t.Errorf("volume %q is not declared under volumes", volume)
	}
	return volume
}

func TestComposeVolume(t *testing.T) {
	dataVolume(t)
	y := loadCompose(t).Services["yubin"]
	if got := environment(t, y.Environment)["YUBIN_DATA"]; got != "" && got != "/data" {
		t.Errorf("YUBIN_DATA=%q, want /data", got)
	}
}

func TestComposeHealthcheck(t *testing.T) {
	y := loadCompose(t).Services["yubin"]
	test := strings.Join(y.Healthcheck.Test, " ")
	// `yubin healthcheck --addr 127.0.0.1:PORT` asks http://127.0.0.1:PORT/healthz
	// (cmd/yubin/healthcheck.go); the image has no curl or wget.
	want := "yubin healthcheck --addr 127.0.0.1:" + listenerPort(t, "YUBIN_HTTP_ADDR")
	if !strings.Contains(test, want) {
		t.Errorf("healthcheck %q does not run %q (which calls /healthz)", test, want)
	}
	if len(y.Healthcheck.Test) == 0 || (y.Healthcheck.Test[0] != "CMD" && y.Healthcheck.Test[0] != "CMD-SHELL") {
		t.Errorf("healthcheck test %q: want the CMD or CMD-SHELL form", y.Healthcheck.Test)
	}
}

func TestComposeEnvironment(t *testing.T) {
	y := loadCompose(t).Services["yubin"]
	env := environment(t, y.Environment)
	known := settingsByEnv()
	for name := range env {
		if _, ok := known[name]; !ok {
			t.Errorf("environment variable %s is not a setting of internal/config", name)
		}
	}
	for _, name := range []string{"YUBIN_HOSTNAME", "YUBIN_ADMIN_EMAIL", "YUBIN_ADMIN_PASSWORD", "YUBIN_CLAMD", "YUBIN_RSPAMD"} {
		if _, ok := env[name]; !ok {
			t.Errorf("environment lacks %s", name)
		}
	}
	if h := env["YUBIN_HOSTNAME"]; !strings.Contains(h, "${YUBIN_HOSTNAME") {
		t.Errorf("YUBIN_HOSTNAME=%q is not taken from the shell or .env", h)
	}
	// The addresses the profile's services are reached on, as documented.
	text := string(readFile(t, "docker-compose.yml"))
	for _, doc := range []string{"YUBIN_CLAMD=clamav:3310", "YUBIN_RSPAMD=http://rspamd:11333"} {
		if !strings.Contains(text, doc) {
			t.Errorf("docker-compose.yml does not document %s", doc)
		}
	}
	// The TLS settings are offered, commented out.
	for _, name := range []string{"YUBIN_TLS_CERT", "YUBIN_TLS_KEY"} {
		if _, ok := known[name]; !ok {
			t.Errorf("%s is not a setting of internal/config", name)
		}
		if !strings.Contains(text, "# "+name+":") {
			t.Errorf("docker-compose.yml does not offer %s", name)
		}
	}
}

// instruction is one Dockerfile instruction with continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
}

// stages parses the Dockerfile into its build stages.
func stages(t *testing.T) [][]instruction {
	t.Helper()
	var (
		all  [][]instruction
		cur  strings.Builder
		flat []instruction
	)
	sc := bufio.NewScanner(bytes.NewReader(readFile(t, "Dockerfile")))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasPrefix(line, "#") { // comment inside a continuation
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cur.WriteString(strings.TrimSuffix(line, "\\") + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		flat = append(flat, instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, in := range flat {
		if in.cmd == "FROM" {
			all = append(all, nil)
		}
		if len(all) > 0 {
			all[len(all)-1] = append(all[len(all)-1], in)
		}
	}
	if len(all) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a runtime stage", len(all))
	}
	return all
}

func find(stage []instruction, cmd string) []string {
	var out []string
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

// goVersion is the go directive of go.mod.
func goVersion(t *testing.T) string {
	t.Helper()
	for _, line := range strings.Split(string(readFile(t, "go.mod")), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("go.mod has no go directive")
	return ""
}

func TestDockerfileBuild(t *testing.T) {
	all := stages(t)
	text := string(readFile(t, "Dockerfile"))
	build := all[0]
	from := build[0].args
	if !strings.HasPrefix(from, "golang:") {
		t.Errorf("build stage FROM %q, want a golang image", from)
	}
	// The Go version: literally or through ARG GO_VERSION.
	want := goVersion(t)
	if !strings.Contains(from, want) && !strings.Contains(text, "ARG GO_VERSION="+want) {
		t.Errorf("build stage %q does not use Go %s of go.mod", from, want)
	}
	var goBuild string
	for _, run := range find(build, "RUN") {
		if strings.Contains(run, "go build") {
			goBuild = run
		}
	}
	if goBuild == "" {
		t.Fatal("no RUN go build in the build stage")
	}
	for _, part := range []string{"./cmd/yubin", "-trimpath", "-s -w", "-X main.version="} {
		if !strings.Contains(goBuild, part) {
			t.Errorf("go build lacks %q: %s", part, goBuild)
		}
	}
	// mattn/go-sqlite3 needs cgo, hence a glibc runtime of the same Debian.
	if !strings.Contains(text, "CGO_ENABLED=1") {
		t.Error("the build does not set CGO_ENABLED=1 (mattn/go-sqlite3 needs cgo)")
	}
	runtime := all[len(all)-1][0].args
	for _, bad := range []string{"scratch", "alpine", "static"} {
		if strings.Contains(runtime, bad) {
			t.Errorf("runtime image %q has no glibc for the cgo binary", runtime)
		}
	}
	bookworm := func(image string) bool {
		return strings.Contains(image, "bookworm") || strings.Contains(image, "debian12")
	}
	if bookworm(from) != bookworm(runtime) {
		t.Errorf("build stage %q and runtime %q are not the same Debian release", from, runtime)
	}
}

func TestDockerfileRuntime(t *testing.T) {
	all := stages(t)
	final := all[len(all)-1]

	users := find(final, "USER")
	if len(users) == 0 {
		t.Error("runtime stage has no USER: it would run as root")
	} else {
		u, _, _ := strings.Cut(users[len(users)-1], ":")
		if u == "root" || u == "0" {
			t.Errorf("USER %s is root", users[len(users)-1])
		}
	}

	volumes := strings.Join(find(final, "VOLUME"), " ")
	if !strings.Contains(volumes, "/data") {
		// Then the compose file's named volume must hold the data.
		t.Logf("no VOLUME /data in the Dockerfile; compose mounts volume %q there", dataVolume(t))
	}
	if env := strings.Join(find(final, "ENV"), " "); !strings.Contains(env, "YUBIN_DATA=/data") {
		t.Errorf("runtime ENV %q does not set YUBIN_DATA=/data", env)
	}

	exposed := make(map[string]bool)
	for _, e := range find(final, "EXPOSE") {
		for _, p := range strings.Fields(e) {
			p, _, _ = strings.Cut(p, "/")
			exposed[p] = true
		}
	}
	for env, port := range listenerPorts(t) {
		if !exposed[port] {
			t.Errorf("port %s (%s) is not EXPOSEd", port, env)
		}
		if n, _ := strconv.Atoi(port); n < 1024 {
			t.Errorf("%s default port %s is privileged; the image runs as non-root", env, port)
		}
	}

	if hc := strings.Join(find(final, "HEALTHCHECK"), " "); hc != "" && !strings.Contains(hc, "yubin\", \"healthcheck") {
		t.Errorf("HEALTHCHECK %q does not run `yubin healthcheck` (which calls /healthz)", hc)
	}
	entry := strings.Join(append(find(final, "ENTRYPOINT"), find(final, "CMD")...), " ")
	if !strings.Contains(entry, "yubin") || !strings.Contains(entry, "serve") {
		t.Errorf("ENTRYPOINT/CMD %q does not run yubin serve", entry)
	}
}

func TestDockerignore(t *testing.T) {
	var patterns []string
	for _, line := range strings.Split(string(readFile(t, ".dockerignore")), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, strings.TrimPrefix(line, "/"))
		}
	}
	for _, p := range []string{".git", ".env", "data/"} {
		if !slices.Contains(patterns, p) {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
	// The build needs these (openapi.yaml is embedded by spec.go).
	for _, need := range []string{"go.mod", "go.sum", "openapi.yaml", "cmd", "*.go", "*.yaml"} {
		if slices.Contains(patterns, need) {
			t.Errorf(".dockerignore excludes %s, which the build needs", need)
		}
	}
}
