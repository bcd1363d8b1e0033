package webadmin_test

import (
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	webadmin "github.com/yubinmail/yubin/web-admin"
)

var (
	catalogueEntry = regexp.MustCompile(`(?m)^\s*"([^"]+)":\s*"((?:[^"\\]|\\.)*)",?\s*$`)
	// tCall finds t("key") and t("key", ...) with a literal key.
	tCall = regexp.MustCompile(`\bt\(\s*"([^"]+)"`)
	// tTemplate finds t(`prefix.${...}`): a family of keys.
	tTemplate = regexp.MustCompile("\\bt\\(\\s*`([^`$]*)\\$\\{")
	// navKey finds the route table's nav: "key" entries.
	navKey = regexp.MustCompile(`\bnav:\s*"([^"]+)"`)
	// keyLiteral finds string literals shaped like keys ("users.enabled"),
	// as in t(cond ? "a.b" : "a.c").
	keyLiteral = regexp.MustCompile(`"([a-z][a-zA-Z0-9_]*\.[a-zA-Z0-9_.]+)"`)
	// placeholder finds {name} in a text.
	placeholder = regexp.MustCompile(`\{(\w+)\}`)
)

// catalogue reads the keys and texts of a language file of the dashboard.
func catalogue(t *testing.T, name string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(webadmin.Assets(), name)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, m := range catalogueEntry.FindAllStringSubmatch(string(b), -1) {
		if _, dup := out[m[1]]; dup {
			t.Errorf("%s: key %q twice", name, m[1])
		}
		out[m[1]] = m[2]
	}
	if len(out) < 100 {
		t.Fatalf("%s: only %d texts found", name, len(out))
	}
	return out
}

// catalogueKeys returns the keys of the English catalogue.
func catalogueKeys(t *testing.T) []string {
	t.Helper()
	var keys []string
	for k := range catalogue(t, "js/lang-en.js") {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestCatalogueComplete fails on a text missing in either language, a
// text whose placeholders differ between them, an empty Japanese text or
// one left in English, and on any key the code asks for that neither
// catalogue has (literal keys, and families such as `reason.${r}` that
// must have at least one member).
func TestCatalogueComplete(t *testing.T) {
	en := catalogue(t, "js/lang-en.js")
	ja := catalogue(t, "js/lang-ja.js")
	for k, v := range en {
		jv, ok := ja[k]
		if !ok {
			t.Errorf("lang-ja.js lacks %q (English: %q)", k, v)
			continue
		}
		pe, pj := placeholder.FindAllString(v, -1), placeholder.FindAllString(jv, -1)
		sort.Strings(pe)
		sort.Strings(pj)
		if !slices.Equal(pe, pj) {
			t.Errorf("%q: placeholders %v in English, %v in Japanese", k, pe, pj)
		}
		if strings.TrimSpace(jv) == "" {
			t.Errorf("%q: empty in Japanese", k)
		}
		if jv == v && regexp.MustCompile(`[a-z]{3,} [a-z]{3,}`).MatchString(v) {
			t.Errorf("%q: the Japanese text is the English one: %q", k, v)
		}
	}
	for k := range ja {
		if _, ok := en[k]; !ok {
			t.Errorf("lang-en.js lacks %q (Japanese: %q)", k, ja[k])
		}
	}
	err := fs.WalkDir(webadmin.Assets(), "js", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(name) != ".js" || strings.HasPrefix(path.Base(name), "lang-") {
			return err
		}
		b, err := fs.ReadFile(webadmin.Assets(), name)
		if err != nil {
			return err
		}
		src := string(b)
		for _, re := range []*regexp.Regexp{tCall, navKey} {
			for _, m := range re.FindAllStringSubmatch(src, -1) {
				if _, ok := en[m[1]]; !ok {
					t.Errorf("%s asks for %q, which the catalogue lacks", name, m[1])
				}
			}
		}
		prefixes := map[string]bool{}
		for k := range en {
			first, _, _ := strings.Cut(k, ".")
			prefixes[first] = true
		}
		for _, m := range keyLiteral.FindAllStringSubmatch(src, -1) {
			first, _, _ := strings.Cut(m[1], ".")
			if _, ok := en[m[1]]; !ok && prefixes[first] {
				t.Errorf("%s names %q, which the catalogue lacks", name, m[1])
			}
		}
		for _, m := range tTemplate.FindAllStringSubmatch(src, -1) {
			found := false
			for k := range en {
				found = found || strings.HasPrefix(k, m[1])
			}
			if !found {
				t.Errorf("%s asks for keys %q..., which the catalogue lacks", name, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
