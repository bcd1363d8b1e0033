// Package webadmin is Yubin's web admin dashboard: plain ES modules and
// hand-written CSS, embedded in the binary and served at /admin. Every
// answer carries a strict Content-Security-Policy (no inline scripts or
// styles, nothing from other origins).
package webadmin

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
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
// /admin/.
func Handler() http.Handler {
	assets := Assets()
	index, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		panic(err) // cannot happen: index.html is embedded
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
		b, err := fs.ReadFile(assets, name)
		if err != nil {
			if isAssetPath(name) {
				http.NotFound(w, r)
			} else {
				serveIndex(w, r, index) // a page: users/ann@example.com
			}
			return
		}
		ct := mime.TypeByExtension(path.Ext(name))
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(b)
		}
	})
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
