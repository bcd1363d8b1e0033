package webadmin_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"

	webadmin "github.com/yubinmail/yubin/web-admin"
)

const wantCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// get fetches url without following redirects.
func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	if got := h.Get("Content-Security-Policy"); got != wantCSP {
		t.Errorf("%s: Content-Security-Policy %q, want %q", what, got, wantCSP)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("%s: X-Content-Type-Options %q", what, got)
	}
	if got := h.Get("Referrer-Policy"); got != "no-referrer" {
		t.Errorf("%s: Referrer-Policy %q", what, got)
	}
}

// TestIndexThroughAPI: the API serves the dashboard at /admin/ with the
// security headers, its files, and redirects / and /admin.
func TestIndexThroughAPI(t *testing.T) {
	srv := newServer(t)
	index, err := fs.ReadFile(webadmin.Assets(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/admin/", "/admin/users", "/admin/users/ann%40example.com", "/admin/login?next=domains"} {
		resp, body := get(t, srv.URL+p)
		if resp.StatusCode != http.StatusOK || body != string(index) {
			t.Fatalf("GET %s: status %d, body %.80q", p, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", p, ct)
		}
		checkSecurityHeaders(t, "GET "+p, resp.Header)
	}
	for p, loc := range map[string]string{"/": "/admin/", "/admin": "/admin/"} {
		resp, _ := get(t, srv.URL+p)
		if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != loc {
			t.Errorf("GET %s: status %d, Location %q, want a redirect to %s", p, resp.StatusCode, resp.Header.Get("Location"), loc)
		}
	}
	resp, body := get(t, srv.URL+"/admin/js/app.js")
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") || !strings.Contains(body, "render") {
		t.Errorf("GET /admin/js/app.js: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	checkSecurityHeaders(t, "GET /admin/js/app.js", resp.Header)
	resp, _ = get(t, srv.URL+"/admin/app.css")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
		t.Errorf("GET /admin/app.css: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, p := range []string{"/admin/nothing.js", "/admin/js/pages/nothing.js"} {
		if resp, _ := get(t, srv.URL+p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, resp.StatusCode)
		}
	}
	if _, body := get(t, srv.URL+"/admin/js/../../webadmin.go"); strings.Contains(body, "package webadmin") {
		t.Error("a path with .. reads outside the embedded files")
	}
	// The API itself is unchanged.
	if resp, _ := get(t, srv.URL+"/api/v1/me"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/me: status %d, want 401", resp.StatusCode)
	}
	// Only GET and HEAD.
	r, err := http.Post(srv.URL+"/admin/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode == http.StatusOK {
		t.Errorf("POST /admin/: status %d", r.StatusCode)
	}
}

// TestHandlerHeaders checks the handler on its own, HEAD included.
func TestHandlerHeaders(t *testing.T) {
	h := webadmin.Handler()
	for _, m := range []string{"GET", "HEAD"} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(m, "/admin/", nil))
		if w.Code != http.StatusOK {
			t.Fatalf("%s /admin/: %d", m, w.Code)
		}
		checkSecurityHeaders(t, m+" /admin/", w.Header())
		if m == "HEAD" && w.Body.Len() != 0 {
			t.Errorf("HEAD /admin/ has a body")
		}
	}
}

var (
	scriptTag   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script\s*>`)
	styleAttr   = regexp.MustCompile(`(?i)\sstyle\s*=`)
	eventAttr   = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	styleTag    = regexp.MustCompile(`(?i)<style\b`)
	srcAttr     = regexp.MustCompile(`(?i)\bsrc\s*=\s*"[^"]+"`)
	jsImport    = regexp.MustCompile(`(?m)^\s*import\s[^;]*?from\s+"([^"]+)"`)
	externalURL = regexp.MustCompile(`(?i)\b(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[/"']`)
)

// TestNoInlineCode: index.html has no inline script, style or handler and
// loads nothing from elsewhere; no script touches innerHTML (or any other
// HTML parser) or localStorage; every module import resolves. SVG is
// built with createElementNS, whose namespace is the one URL allowed.
func TestNoInlineCode(t *testing.T) {
	assets := webadmin.Assets()
	index, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := string(index)
	scripts := scriptTag.FindAllStringSubmatch(html, -1)
	if len(scripts) == 0 {
		t.Error("index.html loads no script")
	}
	for _, m := range scripts {
		if !srcAttr.MatchString(m[1]) || strings.TrimSpace(m[2]) != "" {
			t.Errorf("index.html: inline script %q", m[0])
		}
	}
	for _, re := range []*regexp.Regexp{styleAttr, eventAttr, styleTag} {
		if m := re.FindString(html); m != "" {
			t.Errorf("index.html: inline style or handler %q", m)
		}
	}
	files := 0
	err = fs.WalkDir(assets, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := fs.ReadFile(assets, name)
		if err != nil {
			return err
		}
		src := string(b)
		// The SVG namespace is a name, not something loaded.
		if m := externalURL.FindString(strings.ReplaceAll(src, `"http://www.w3.org/2000/svg"`, `""`)); m != "" {
			t.Errorf("%s: refers to another origin: %q", name, m)
		}
		switch path.Ext(name) {
		case ".js":
			for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "localStorage", "setAttribute(\"style\"", ".cssText"} {
				if strings.Contains(src, bad) {
					t.Errorf("%s: uses %s", name, bad)
				}
			}
			for _, m := range jsImport.FindAllStringSubmatch(src, -1) {
				target := path.Join(path.Dir(name), m[1])
				if _, err := fs.Stat(assets, target); err != nil {
					t.Errorf("%s: import %q: %v", name, m[1], err)
				}
			}
		case ".css":
			if strings.Contains(src, "@import") || strings.Contains(src, "url(") {
				t.Errorf("%s: loads other resources", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Errorf("only %d embedded files", files)
	}
}

// TestAssetsCachedAndCompressed fetches every file of the dashboard over
// HTTP as a browser does: gzip-compressed with a strong ETag the first
// time, and 304 Not Modified without a body when revalidated.
func TestAssetsCachedAndCompressed(t *testing.T) {
	srv := newServer(t)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	fetch := func(p string, hdr map[string]string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	var plain, sent int
	err := fs.WalkDir(webadmin.Assets(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == "index.html" {
			return err
		}
		want, _ := fs.ReadFile(webadmin.Assets(), name)
		resp, body := fetch("/admin/"+name, map[string]string{"Accept-Encoding": "gzip, deflate, br"})
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != 200 || !strings.HasPrefix(etag, `"`) || strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
			t.Errorf("GET %s: %d, ETag %q, Cache-Control %q", name, resp.StatusCode, etag, resp.Header.Get("Cache-Control"))
			return nil
		}
		got := body
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got, _ = io.ReadAll(zr)
		} else if len(want) > 1024 {
			t.Errorf("GET %s (%d bytes) with Accept-Encoding gzip: not compressed", name, len(want))
		}
		if !bytes.Equal(got, want) {
			t.Errorf("GET %s: the body differs from the file", name)
		}
		plain += len(want)
		sent += len(body)
		// Revalidation: 304 without a body while the file is unchanged.
		resp, body = fetch("/admin/"+name, map[string]string{"If-None-Match": etag})
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("GET %s with If-None-Match: %d, %d bytes", name, resp.StatusCode, len(body))
		}
		// A client that takes no gzip gets the file as it is.
		resp, body = fetch("/admin/"+name, map[string]string{"Accept-Encoding": "gzip;q=0, identity"})
		if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(body, want) {
			t.Errorf("GET %s refusing gzip: Content-Encoding %q", name, resp.Header.Get("Content-Encoding"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sent*2 > plain {
		t.Errorf("the dashboard's files take %d bytes compressed of %d: less than half expected", sent, plain)
	}
}
