package imapserver

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	kflate "github.com/klauspost/compress/flate"
)

// zConn is a test client that has turned on COMPRESS DEFLATE, with Go's
// compress/flate as its zlib peer.
type zConn struct {
	t  testing.TB
	c  net.Conn
	fw *flate.Writer
	br *bufio.Reader // over the inflater
}

// compress sends COMPRESS DEFLATE on r (logged in) and, in the same write,
// the compressed first command pipelined (the client may compress right
// after the command's CRLF, RFC 4978 §3). It returns the compressed
// connection and the responses to that command.
func compress(t testing.TB, r *rawConn, tag, first string) (*zConn, []string) {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("z COMPRESS DEFLATE\r\n")
	fw, err := flate.NewWriter(&out, flate.DefaultCompression)
	if err != nil {
		t.Fatal(err)
	}
	z := &zConn{t: t, c: r.c, fw: fw}
	fw.Write([]byte(tag + " " + first + "\r\n"))
	fw.Flush()
	r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.c.Write(out.Bytes()); err != nil {
		t.Fatal(err)
	}
	fw.Reset(r.c)
	if l := r.line(); l != "z OK DEFLATE active" {
		t.Fatalf("COMPRESS: %q", l)
	}
	// r.br is a ByteReader: the inflater takes exactly the bytes it needs.
	z.br = bufio.NewReader(flate.NewReader(r.br))
	return z, z.responses(tag)
}

func (z *zConn) send(line string) {
	z.t.Helper()
	z.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := z.fw.Write([]byte(line + "\r\n")); err != nil {
		z.t.Fatal(err)
	}
	if err := z.fw.Flush(); err != nil {
		z.t.Fatal(err)
	}
}

func (z *zConn) line() string {
	z.t.Helper()
	z.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := z.br.ReadString('\n')
	if err != nil {
		z.t.Fatalf("read: %v (got %q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

// responses reads lines up to the tagged one; a literal's bytes are
// appended to the line that announced it.
func (z *zConn) responses(tag string) []string {
	z.t.Helper()
	var out []string
	for {
		l := z.line()
		if i := strings.LastIndexByte(l, '{'); i >= 0 && strings.HasSuffix(l, "}") {
			n, err := strconv.Atoi(l[i+1 : len(l)-1])
			if err == nil {
				lit := make([]byte, n)
				if _, err := io.ReadFull(z.br, lit); err != nil {
					z.t.Fatal(err)
				}
				l += "\r\n" + string(lit) + z.line()
			}
		}
		out = append(out, l)
		if strings.HasPrefix(l, tag+" ") {
			return out
		}
	}
}

func (z *zConn) cmd(tag, line string) []string {
	z.t.Helper()
	z.send(tag + " " + line)
	return z.responses(tag)
}

func loggedIn(t testing.TB, env *testEnv) *rawConn {
	t.Helper()
	r := dialRaw(t, env.addr)
	if _, tagged := r.cmd("a", fmt.Sprintf("LOGIN %s \"%s\"", testAddr, testPass)); !strings.HasPrefix(tagged, "a OK") {
		t.Fatalf("LOGIN: %s", tagged)
	}
	if _, tagged := r.cmd("b", "SELECT INBOX"); !strings.HasPrefix(tagged, "b OK") {
		t.Fatalf("SELECT: %s", tagged)
	}
	return r
}

// bigBody is a message body of about n bytes that does not compress to
// nothing (so that responses span several writer buffers and bursts).
func bigBody(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "line %d of the message: %x\r\n", i, sha256.Sum256([]byte(strconv.Itoa(i))))
	}
	return b.String()
}

func TestCompressDeflateGoClient(t *testing.T) {
	env := newTestEnv(t, withCompress)
	big := testMessage("big one", "bob@example.org", bigBody(200<<10))
	env.deliver(t, big)
	env.deliver(t, testMessage("small", "bob@example.org", "hello\r\n"))

	r := dialRaw(t, env.addr)
	if _, tagged := r.cmd("p", "COMPRESS DEFLATE"); !strings.HasPrefix(tagged, "p BAD") {
		t.Fatalf("COMPRESS before login: %s", tagged)
	}
	r = loggedIn(t, env)
	if _, tagged := r.cmd("u", "COMPRESS GZIP"); !strings.HasPrefix(tagged, "u BAD") {
		t.Fatalf("COMPRESS GZIP: %s", tagged)
	}
	z, got := compress(t, r, "n", "NOOP")
	if last := got[len(got)-1]; last != "n OK NOOP completed" {
		t.Fatalf("pipelined NOOP: %q", got)
	}

	// Several rounds: each is a new burst from a pooled compressor, and
	// the client's stream keeps its history across them.
	for round := 0; round < 3; round++ {
		got = z.cmd("f", "UID FETCH 1 BODY.PEEK[]")
		if len(got) != 2 || !strings.HasSuffix(got[0], big+")") || !strings.HasPrefix(got[1], "f OK") {
			t.Fatalf("round %d: FETCH gave %d lines, tagged %q", round, len(got), got[len(got)-1])
		}
	}
	// A synchronizing literal: the continuation request goes out
	// compressed, the literal comes in compressed.
	appended := testMessage("appended", "bob@example.org", bigBody(8<<10))
	z.send(fmt.Sprintf("a APPEND INBOX {%d}", len(appended)))
	if l := z.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("APPEND continuation: %q", l)
	}
	z.send(appended)
	if got := z.responses("a"); !strings.HasPrefix(got[len(got)-1], "a OK") {
		t.Fatalf("APPEND: %q", got)
	}
	if got := z.cmd("g", "UID FETCH 3 BODY.PEEK[]"); !strings.HasSuffix(got[0], appended+")") {
		t.Fatalf("appended message: %q", got[len(got)-1])
	}
	if got := z.cmd("x", "COMPRESS DEFLATE"); got[0] != "x NO [COMPRESSIONACTIVE] DEFLATE is already active" {
		t.Fatalf("second COMPRESS: %q", got)
	}
	if got := z.cmd("c", "CAPABILITY"); strings.Contains(got[0], "COMPRESS=DEFLATE") || !strings.HasPrefix(got[1], "c OK") {
		t.Fatalf("CAPABILITY with COMPRESS active: %q", got)
	}
	if got := z.cmd("s", "STARTTLS"); !strings.HasPrefix(got[0], "s BAD") {
		t.Fatalf("STARTTLS after COMPRESS: %q", got)
	}

	// IDLE: an update another session causes arrives compressed.
	z.send("i IDLE")
	if l := z.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	env.deliver(t, testMessage("third", "bob@example.org", "hi\r\n"))
	if l := z.line(); l != "* 4 EXISTS" {
		t.Fatalf("IDLE update: %q", l)
	}
	z.send("DONE")
	if got := z.responses("i"); !strings.HasPrefix(got[len(got)-1], "i OK") {
		t.Fatalf("DONE: %q", got)
	}
	if got := z.cmd("l", "LOGOUT"); got[0] != "* BYE Logging out" || got[1] != "l OK LOGOUT completed" {
		t.Fatalf("LOGOUT: %q", got)
	}
}

// TestCompressDeflateSharedPool runs two compressed sessions in turn, so
// that each burst gets a compressor the other session used last.
func TestCompressDeflateSharedPool(t *testing.T) {
	env := newTestEnv(t, withCompress)
	a := testMessage("a", "bob@example.org", bigBody(20<<10))
	env.deliver(t, a)
	z1, _ := compress(t, loggedIn(t, env), "n", "NOOP")
	z2, _ := compress(t, loggedIn(t, env), "n", "NOOP")
	for i := 0; i < 10; i++ {
		for k, z := range []*zConn{z1, z2} {
			got := z.cmd("f", "FETCH 1 (UID BODY.PEEK[])")
			if len(got) != 2 || !strings.HasSuffix(got[0], a+")") {
				t.Fatalf("round %d, session %d: %d lines, tagged %q", i, k+1, len(got), got[len(got)-1])
			}
		}
	}
}

// TestCompressDeflateCorruptInput: a client whose stream is not DEFLATE
// loses its connection; the server serves the others.
func TestCompressDeflateCorruptInput(t *testing.T) {
	env := newTestEnv(t, withCompress)
	r := loggedIn(t, env)
	r.send("z COMPRESS DEFLATE")
	if l := r.line(); l != "z OK DEFLATE active" {
		t.Fatalf("COMPRESS: %q", l)
	}
	// BTYPE 11 is reserved: invalid in any DEFLATE stream.
	r.c.Write([]byte{0xff, 0xff, 0xff, 0xff})
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := r.br.Read(make([]byte, 64)); err != io.EOF {
		t.Fatalf("after invalid DEFLATE data: read %d bytes, err %v; want EOF", n, err)
	}
	z, got := compress(t, loggedIn(t, env), "n", "NOOP")
	if !strings.HasPrefix(got[0], "n OK") {
		t.Fatalf("other session: %q", got)
	}
	z.cmd("l", "LOGOUT")
}

// pythonZlibClient is an IMAP session by Python's zlib (raw DEFLATE,
// wbits=-15) on both sides: it prints the tagged responses, and the
// SHA-256 of the fetched message. Its fifth argument is the flush that ends
// each command: Z_SYNC_FLUSH, or Z_PARTIAL_FLUSH as mbsync's zlib use does
// (no empty stored block after a command, its last bits in the next byte).
const pythonZlibClient = `
import hashlib, re, socket, sys, zlib
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
flush = getattr(zlib, sys.argv[5])
s = socket.create_connection((host, port), timeout=30)
buf = b''
comp = dec = None
def fill():
    global buf
    chunk = s.recv(65536)
    if not chunk:
        sys.exit('connection closed')
    buf += dec.decompress(chunk) if dec else chunk
def line():
    global buf
    while b'\r\n' not in buf:
        fill()
    l, buf = buf.split(b'\r\n', 1)
    return l
def read(n):
    global buf
    while len(buf) < n:
        fill()
    d, buf = buf[:n], buf[n:]
    return d
def send(data):
    s.sendall(comp.compress(data) + comp.flush(flush) if comp else data)
def cmd(tag, text):
    send((tag + ' ' + text + '\r\n').encode())
    lits = []
    while True:
        l = line()
        m = re.search(rb'\{(\d+)\}$', l)
        if m:
            lits.append(read(int(m.group(1))))
            continue
        if l.startswith(tag.encode() + b' '):
            print(l.decode())
            return lits
print('greeting has COMPRESS=DEFLATE:', b'COMPRESS=DEFLATE' in line())
cmd('a', 'LOGIN "%s" "%s"' % (user, pw))
cmd('b', 'SELECT INBOX')
send(b'c COMPRESS DEFLATE\r\n')
print(line().decode())
comp = zlib.compressobj(9, zlib.DEFLATED, -15)
dec = zlib.decompressobj(-15)
cmd('d', 'NOOP')
for tag in ('e', 'f'):
    lits = cmd(tag, 'UID FETCH 1 BODY.PEEK[]')
    print('body', hashlib.sha256(lits[0]).hexdigest())
cmd('g', 'COMPRESS DEFLATE')
cmd('h', 'LOGOUT')
`

func TestCompressDeflatePythonZlib(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 (with zlib) is not installed: no independent zlib peer")
	}
	for _, flush := range []string{"Z_SYNC_FLUSH", "Z_PARTIAL_FLUSH"} {
		t.Run(flush, func(t *testing.T) { testCompressPython(t, python, flush) })
	}
}

// testCompressPython runs pythonZlibClient, ending each command with the
// zlib flush named.
func testCompressPython(t *testing.T, python, flush string) {
	env := newTestEnv(t, withCompress)
	msg := testMessage("for python", "bob@example.org", bigBody(100<<10))
	env.deliver(t, msg)
	host, port, _ := net.SplitHostPort(env.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", pythonZlibClient, host, port, testAddr, testPass, flush).CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, out)
	}
	sum := sha256.Sum256([]byte(msg))
	body := "body " + hex.EncodeToString(sum[:])
	want := strings.Join([]string{
		"greeting has COMPRESS=DEFLATE: True",
		"a OK", "b OK", "c OK DEFLATE active", "d OK NOOP completed",
		body, body, // the lines are checked by prefix below
		"g NO [COMPRESSIONACTIVE] DEFLATE is already active",
		"h OK LOGOUT completed",
	}, "\n")
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	// The tagged OKs of LOGIN, SELECT and FETCH carry texts of their own.
	wantLines := strings.Split(want, "\n")
	order := []int{0, 1, 2, 3, 4, -1, 5, -1, 6, 7, 8}
	if len(got) != len(order) {
		t.Fatalf("python client printed:\n%s\nwant lines like:\n%s", out, want)
	}
	for i, w := range order {
		if w < 0 {
			if !strings.HasPrefix(got[i], "e OK") && !strings.HasPrefix(got[i], "f OK") {
				t.Fatalf("line %d: %q, want a tagged FETCH OK\n%s", i, got[i], out)
			}
			continue
		}
		if !strings.HasPrefix(got[i], wantLines[w]) {
			t.Fatalf("line %d: %q, want %q\n%s", i, got[i], wantLines[w], out)
		}
	}
}

// BenchmarkIdleConnMemoryCompress reports the heap a logged-in connection
// with INBOX selected and COMPRESS DEFLATE active costs while idle, client
// side included (a bare net.Conn: the test client's own compressor and
// inflater are dropped once the connection is set up).
func BenchmarkIdleConnMemoryCompress(b *testing.B) {
	const conns = 300
	env := newTestEnv(b, withCompress)
	env.deliver(b, testMessage("one", "bob@example.org", bigBody(4<<10)))
	open := func() net.Conn {
		z, got := compress(b, loggedIn(b, env), "n", "UID FETCH 1 BODY.PEEK[]")
		if !strings.HasPrefix(got[len(got)-1], "n OK") {
			b.Fatalf("compressed FETCH: %q", got)
		}
		z.c.SetDeadline(time.Time{})
		return z.c
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var perConn float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		base := open() // holds the mailbox's shared state and a pooled compressor
		before := heap()
		cs := make([]net.Conn, conns)
		for k := range cs {
			cs[k] = open()
		}
		after := heap()
		perConn += (float64(after) - float64(before)) / conns
		for _, c := range cs {
			c.Close()
		}
		base.Close()
	}
	b.StopTimer()
	b.ReportMetric(perConn/float64(b.N), "heap-B/conn")
}

// BenchmarkDeflateBurst compares DEFLATE implementations and levels for
// the way the server compresses: per burst of responses, a pooled
// compressor is Reset, writes the burst and sync-flushes. out-B/op is the
// compressed size of the burst; writer-B is what one compressor allocates.
func BenchmarkDeflateBurst(b *testing.B) {
	var text strings.Builder
	for i := 0; text.Len() < 16<<10; i++ {
		fmt.Fprintf(&text, "Line %d: the quick brown fox %d jumps over the lazy dog number %d.\r\n", i, i*7, i%13)
	}
	bursts := []struct {
		name string
		data []byte
	}{
		{"fetch-flags", []byte(strings.Repeat("* 17 FETCH (UID 4711 FLAGS (\\Seen $Junk) MODSEQ (90210))\r\n", 20) + "f OK FETCH completed\r\n")},
		{"fetch-text", []byte(testMessage("bench", "bob@example.org", text.String()))},
	}
	type resetWriter interface {
		io.Writer
		Flush() error
		Reset(io.Writer)
	}
	impls := []struct {
		name string
		new  func() resetWriter
	}{
		{"std-1", func() resetWriter { w, _ := flate.NewWriter(io.Discard, flate.BestSpeed); return w }},
		{"std-default", func() resetWriter { w, _ := flate.NewWriter(io.Discard, flate.DefaultCompression); return w }},
		{"klauspost-1(server)", func() resetWriter { var p deflaterPool; return p.get(io.Discard) }},
		{"klauspost-default", func() resetWriter { w, _ := kflate.NewWriter(io.Discard, kflate.DefaultCompression); return w }},
	}
	for _, impl := range impls {
		for _, burst := range bursts {
			b.Run(impl.name+"/"+burst.name, func(b *testing.B) {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				fw := impl.new()
				runtime.ReadMemStats(&after)
				var out countingWriter
				b.SetBytes(int64(len(burst.data)))
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					fw.Reset(&out)
					fw.Write(burst.data)
					fw.Flush()
				}
				b.ReportMetric(float64(out)/float64(b.N), "out-B/op")
				b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc), "writer-B")
			})
		}
	}
}

type countingWriter int64

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}

// TestCompressDeflateShutdown: the BYE of a shutdown reaches compressed
// sessions compressed, idle or in IDLE.
func TestCompressDeflateShutdown(t *testing.T) {
	env := newTestEnv(t, withCompress)
	idle, _ := compress(t, loggedIn(t, env), "n", "NOOP")
	idler, _ := compress(t, loggedIn(t, env), "n", "NOOP")
	idler.send("i IDLE")
	if l := idler.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- env.srv.Shutdown(ctx) }()
	for _, z := range []*zConn{idle, idler} {
		if l := z.line(); !strings.HasPrefix(l, "* BYE") {
			t.Errorf("got %q, want BYE", l)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// withCompress turns COMPRESS=DEFLATE on (Options.Compress).
func withCompress(o *Options) { o.Compress = true }
