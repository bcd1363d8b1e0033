package mailstore

import (
	"strings"
	"testing"
)

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	// One of OWASP's equally strong settings: 7 MiB × 5 passes, 1 lane.
	if !strings.HasPrefix(h, "$argon2id$v=19$m=7168,t=5,p=1$") {
		t.Errorf("hash %q does not carry the OWASP parameters", h)
	}
	// A hash made with OWASP's other setting (19 MiB × 2) still verifies.
	old := "$argon2id$v=19$m=19456,t=2,p=1$ZaCsQwtNAxQnqKiRUV3ADw$ILg2WYGH0xdzHBA9jkRi5XqGIxedoTyWF/HPuhAdLPI"
	if !CheckPassword(old, "bench-password-1234") || CheckPassword(old, "bench-password-1235") {
		t.Errorf("a 19 MiB × 2 hash no longer verifies")
	}
	if !CheckPassword(h, "correct horse battery") || CheckPassword(h, "correct horse batterY") {
		t.Errorf("CheckPassword does not tell the right password from a wrong one")
	}
}

// TestDummyHashCostsARealCheck: the hash checked for unknown accounts is
// well-formed with the same parameters as real hashes (so the check runs
// argon2id in full and takes as long), and matches nothing.
func TestDummyHashCostsARealCheck(t *testing.T) {
	real, err := HashPassword("x")
	if err != nil {
		t.Fatal(err)
	}
	params := func(h string) string {
		p := strings.Split(h, "$")
		if len(p) != 6 {
			t.Fatalf("hash %q is not a PHC string", h)
		}
		return strings.Join(p[:4], "$")
	}
	if params(dummyHash) != params(real) {
		t.Errorf("dummy hash parameters %q, real ones %q", params(dummyHash), params(real))
	}
	for _, pw := range []string{"", "x", "yubin-no-such-account"} {
		ok, err := checkArgon2id(dummyHash, pw)
		if err != nil || ok {
			t.Errorf("checkArgon2id(dummyHash, %q) = %v, %v; want a full check that fails", pw, ok, err)
		}
	}
}
