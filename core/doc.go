// Package core holds the small types and rules shared by every part of Yubin:
// mail address syntax and normalisation, and the error kinds that the
// mailstore, the protocol servers and the REST API agree on.
package core
