package webadmin

import "testing"

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"": false, "gzip": true, "GZIP": true, "gzip, deflate, br": true, "br;q=1.0, gzip;q=0.8": true,
		"gzip;q=0": false, "gzip; q=0": false, "*": true, "*;q=0": false, "identity": false, "x-gzip": true,
		"*, gzip;q=0": false, "deflate, *;q=0.1": true,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

func TestETagMatches(t *testing.T) {
	const tag = `"abc"`
	for header, want := range map[string]bool{
		`"abc"`: true, `W/"abc"`: true, `"x", "abc"`: true, `*`: true, `"abd"`: false, ``: false, `abc`: false,
	} {
		if got := etagMatches(header, tag); got != want {
			t.Errorf("etagMatches(%q) = %v, want %v", header, got, want)
		}
	}
}

// FuzzAcceptEncoding checks that no Accept-Encoding or If-None-Match
// value makes the handler's parsing panic.
func FuzzAcceptEncoding(f *testing.F) {
	for _, seed := range []string{"gzip", "gzip;q=0.5, br", "*;q=", ";;,,", `W/"x", *`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		acceptsGzip(v)
		etagMatches(v, `"tag"`)
	})
}
