// Package webadmin is Yubin's web admin dashboard: plain ES modules and
// hand-written CSS, embedded in the binary and served at /admin. Every
// answer carries a strict Content-Security-Policy (no inline scripts or
// styles, nothing from other origins).
package webadmin

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// Prefix is where the dashboard is served.
const Prefix = "/admin"

// ContentSecurityPolicy is sent with every dashboard answer.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

//go:embed static
var embedded embed.FS

// Assets returns the embedded files (index.html, app.css, js/...).
func Assets() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err) // cannot happen: the folder is embedded
	}
	return sub
}

// SetSecurityHeaders sets the headers every dashboard answer carries.
func SetSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// Handler serves the dashboard under Prefix: the embedded files by path,
// and index.html for every other path without a file extension (the
// dashboard's own pages, routed in the browser). /admin redirects to
// /admin/. The files carry a strong ETag of their content and may be
// cached (a browser revalidates them and gets 304 Not Modified while they
// are unchanged); compressible ones are sent gzip-compressed to clients
// that accept it.
func Handler() http.Handler {
	assets := Assets()
	index, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		panic(err) // cannot happen: index.html is embedded
	}
	files, err := loadAssets(assets)
	if err != nil {
		panic(err) // cannot happen: the files are embedded
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetSecurityHeaders(w.Header())
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		if p == Prefix {
			http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
			return
		}
		rest, ok := strings.CutPrefix(p, Prefix+"/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+rest), "/")
		if name == "" || name == "index.html" {
			serveIndex(w, r, index)
			return
		}
		a, found := files[name]
		if !found {
			if isAssetPath(name) {
				http.NotFound(w, r)
			} else {
				serveIndex(w, r, index) // a page: users/ann@example.com
			}
			return
		}
		a.serve(w, r)
	})
}

// asset is one embedded file, ready to serve.
type asset struct {
	body  []byte
	gzip  []byte // body gzip-compressed; nil when that does not help
	etag  string // strong: a hash of body
	ctype string
}

// loadAssets reads and prepares every embedded file but index.html.
func loadAssets(assets fs.FS) (map[string]*asset, error) {
	files := map[string]*asset{}
	// One compressor for all files: each gzip.Writer allocates about
	// 1 MiB of tables, which made this loop most of the server's
	// allocation at start (and of its resident memory after it).
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	err := fs.WalkDir(assets, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || name == "index.html" {
			return err
		}
		body, err := fs.ReadFile(assets, name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, ctype: mime.TypeByExtension(path.Ext(name))}
		if a.ctype == "" {
			a.ctype = "application/octet-stream"
		}
		buf.Reset()
		zw.Reset(&buf)
		zw.Write(body)
		zw.Close()
		if buf.Len() < len(body)*9/10 {
			a.gzip = bytes.Clone(buf.Bytes())
		}
		files[name] = a
		return nil
	})
	return files, err
}

// serve answers with the file: 304 if the client has this version,
// gzip-compressed if it accepts that.
func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	// Cached, but checked with the server before each use: the names do
	// not change with the content.
	h.Set("Cache-Control", "no-cache")
	if a.gzip != nil {
		h.Set("Vary", "Accept-Encoding")
	}
	if etagMatches(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gzip != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body = a.gzip
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// etagMatches reports whether an If-None-Match value names etag (RFC 9110
// section 13.1.2: weak comparison, or "*").
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether an Accept-Encoding value allows gzip (RFC
// 9110 section 12.5.3): named, or "*", with a q-value above 0.
func acceptsGzip(header string) bool {
	ok := false
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		q := 1.0
		if v, found := strings.CutPrefix(strings.ReplaceAll(strings.ToLower(params), " ", ""), "q="); found {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if coding == "*" {
			ok = ok || q > 0
			continue
		}
		return q > 0 // an explicit gzip entry decides
	}
	return ok
}

// serveIndex answers with the dashboard's page.
func serveIndex(w http.ResponseWriter, r *http.Request, index []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(index)
	}
}

// assetExts are the extensions of the dashboard's files.
var assetExts = map[string]bool{".js": true, ".css": true, ".html": true, ".map": true, ".json": true, ".png": true, ".svg": true, ".ico": true, ".txt": true}

// isAssetPath reports whether a missing name is a missing file (404)
// rather than a page of the dashboard (whose paths hold domain names and
// addresses, so a dot says little).
func isAssetPath(name string) bool {
	if strings.HasPrefix(name, "js/") {
		return true
	}
	return !strings.Contains(name, "/") && assetExts[path.Ext(name)]
}
