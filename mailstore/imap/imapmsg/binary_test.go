package imapmsg

import (
	"bytes"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// msgBinaryParts has a part in the binary transfer encoding with bare LF
// and NUL, a base64 part that decodes to NUL, and an unknown encoding.
var msgBinaryParts = "Content-Type: multipart/mixed; boundary=B\r\n\r\n" +
	"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
	"raw\nbytes\x00\r\nhere\r\n" +
	"--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: BASE64\r\n\r\n" +
	"AAECAwQFBgcICQ==\r\n" +
	"--B\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n" +
	"begin 644 x\r\n" +
	"--B\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"caf=C3=A9=\r\n au lait\r\n" +
	"--B--\r\n"

func TestBinaryPart(t *testing.T) {
	m := Parse([]byte(msgBinaryParts))
	tests := []struct {
		name    string
		path    []int
		partial *imap.SectionPartial
		want    string
		size    int64
		nul     bool
		cteErr  bool
	}{
		{"binary kept byte for byte", []int{1}, nil, "raw\nbytes\x00\r\nhere", 16, true, false},
		{"binary partial without the NUL", []int{1}, &imap.SectionPartial{Offset: 4, Size: 5}, "bytes", 16, false, false},
		{"base64 decoded", []int{2}, nil, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09", 10, true, false},
		{"base64 partial on decoded bytes", []int{2}, &imap.SectionPartial{Offset: 8, Size: 100}, "\x08\x09", 10, false, false},
		{"origin past the end", []int{2}, &imap.SectionPartial{Offset: 10, Size: 1}, "", 10, false, false},
		{"unknown encoding", []int{3}, nil, "", 0, false, true},
		{"quoted-printable", []int{4}, nil, "café au lait", 13, false, false},
		{"missing part", []int{9}, nil, "", 0, false, false},
		{"whole message", nil, nil, msgBinaryParts, int64(len(msgBinaryParts)), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bp, err := m.BinaryPart(tt.path, tt.partial)
			if tt.cteErr {
				if !IsUnknownCTE(err) {
					t.Fatalf("error = %v, want UNKNOWN-CTE", err)
				}
				if _, err := m.BinarySize(tt.path); !IsUnknownCTE(err) {
					t.Fatalf("BinarySize error = %v, want UNKNOWN-CTE", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(bp.Data) != tt.want || bp.Size != tt.size || bp.HasNUL != tt.nul {
				t.Errorf("BinaryPart = %q size %d nul %v; want %q size %d nul %v", bp.Data, bp.Size, bp.HasNUL, tt.want, tt.size, tt.nul)
			}
			if bp.Partial != (tt.partial != nil) || (tt.partial != nil && bp.Origin != tt.partial.Offset) {
				t.Errorf("origin = %v %d", bp.Partial, bp.Origin)
			}
			if n, err := m.BinarySize(tt.path); err != nil || n != tt.size {
				t.Errorf("BinarySize = %d, %v", n, err)
			}
		})
	}
	if IsUnknownCTE(nil) || IsUnknownCTE(errSizeMismatch) {
		t.Errorf("IsUnknownCTE accepts other errors")
	}
}

// FuzzBinaryPart checks that a partial BINARY item is exactly the range of
// the whole decoded section, with a consistent size and NUL report.
func FuzzBinaryPart(f *testing.F) {
	f.Add([]byte(msgBinaryParts), 1, int64(3), int64(4))
	f.Add([]byte(msgMixed), 2, int64(0), int64(-1))
	f.Add([]byte(msgNUL), 1, int64(2), int64(100))
	f.Add([]byte(msgBadEncodings), 2, int64(1), int64(3))
	f.Add([]byte("Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: base64\r\n\r\nGyRCJDMkcyRLJEEkTxsoQg==\r\n"), 1, int64(0), int64(5))
	f.Fuzz(func(t *testing.T, data []byte, part int, offset, size int64) {
		m := Parse(data)
		path := []int{part}
		whole, err := m.BinaryPart(path, nil)
		if err != nil {
			if !IsUnknownCTE(err) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if whole.Size != int64(len(whole.Data)) || whole.HasNUL != bytes.Contains(whole.Data, []byte{0}) {
			t.Fatalf("inconsistent whole section: size %d len %d", whole.Size, len(whole.Data))
		}
		if offset < 0 {
			offset = -offset
		}
		bp, err := m.BinaryPart(path, &imap.SectionPartial{Offset: offset, Size: size})
		if err != nil {
			t.Fatal(err)
		}
		if bp.Size != whole.Size || !bp.Partial || bp.Origin != offset {
			t.Fatalf("partial size %d origin %d", bp.Size, bp.Origin)
		}
		var want []byte
		if offset < whole.Size {
			want = whole.Data[offset:]
			if size >= 0 && size < int64(len(want)) {
				want = want[:size]
			}
		}
		if !bytes.Equal(bp.Data, want) || bp.HasNUL != bytes.Contains(want, []byte{0}) {
			t.Fatalf("partial %d.%d = %q, want %q", offset, size, bp.Data, want)
		}
	})
}
