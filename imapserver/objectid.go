package imapserver

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/yubinmail/yubin/mailstore"
)

// emailID is a message's EMAILID (OBJECTID, RFC 8474 §5.1): derived from
// the key of its body, which COPY and MOVE share, so that every copy of a
// message has the same id and the id never changes. It is a digest, so the
// storage key itself is not shown.
func emailID(m *mailstore.MessageMeta) string {
	sum := sha256.Sum256([]byte("yubin-emailid:" + m.BlobKey))
	return "E" + hex.EncodeToString(sum[:12])
}
