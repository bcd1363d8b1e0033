package testsmtp

import (
	"bufio"
	"net"
	"testing"
)

// TestClientAgainstScriptedServer checks the client's reading of greeting,
// multi-line replies and a closed connection against a scripted peer.
func TestClientAgainstScriptedServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("220 ready\r\n"))
		line, _ := bufio.NewReader(c).ReadString('\n')
		_, _ = c.Write([]byte("250-first\r\n250 second\r\n"))
		got <- line
	}()
	c := Dial(t, ln.Addr().String())
	if text := c.Cmd("EHLO client.example", 250); text != "first\nsecond" {
		t.Errorf("multi-line reply text %q", text)
	}
	if line := <-got; line != "EHLO client.example\r\n" {
		t.Errorf("server read %q", line)
	}
	c.ExpectClosed()
}
