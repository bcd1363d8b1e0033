package api

import (
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/yubinmail/yubin/internal/testpeer"
)

// TestTOTPQRCode reads the QR code of an authenticator enrolment with an
// independent decoder (zbarimg, as a phone's camera would) and finds the
// otpauth URI of the answer in it.
func TestTOTPQRCode(t *testing.T) {
	zbarimg := testpeer.Need(t, "/usr/bin/zbarimg", "zbar-tools")
	e := newEnv(t)
	e.addDomain("example.com")
	e.addUser("ann@example.com", "ann-password")
	tok := e.login("ann@example.com", "ann-password")
	var en struct {
		Secret string `json:"secret"`
		URI    string `json:"otpauth_uri"`
		QRCode string `json:"qr_code"`
	}
	e.must(http.StatusCreated, "POST", "/api/v1/me/totp", tok, nil, &en)
	b64, ok := strings.CutPrefix(en.QRCode, "data:image/png;base64,")
	if !ok {
		t.Fatalf("qr_code %.60q is no PNG data URI", en.QRCode)
	}
	png, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(zbarimg, "--raw", "-q", file).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != en.URI || !strings.Contains(got, "secret="+en.Secret) {
		t.Errorf("the QR code reads %q, want %q", got, en.URI)
	}
}
