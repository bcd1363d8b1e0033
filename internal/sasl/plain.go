// Package sasl decodes the client responses of the SASL mechanisms the
// protocol servers offer (PLAIN, RFC 4616).
package sasl

import (
	"bytes"
	"encoding/base64"
	"errors"
)

// ErrMalformed reports a PLAIN response that is not base64 of
// "authzid NUL authcid NUL passwd" with a non-empty authcid and passwd.
var ErrMalformed = errors.New("sasl: malformed PLAIN response")

// DecodePlain decodes the base64 client response of the PLAIN mechanism
// into the authorization identity (empty when the client acts as itself),
// the authentication identity and the password.
func DecodePlain(response string) (authz, authc, password string, err error) {
	raw, err := base64.StdEncoding.DecodeString(response)
	if err != nil {
		return "", "", "", ErrMalformed
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 {
		return "", "", "", ErrMalformed
	}
	return string(parts[0]), string(parts[1]), string(parts[2]), nil
}
