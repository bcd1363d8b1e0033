package main

// startPOP3 is replaced by the POP3 wiring (serve_pop3.go).
func (w *wiring) startPOP3() {}
