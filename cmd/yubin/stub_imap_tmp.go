package main

// startIMAP is replaced by the IMAP wiring (serve_imap.go).
func (w *wiring) startIMAP() {}
