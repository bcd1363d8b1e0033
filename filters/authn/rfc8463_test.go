package authn

import (
	"testing"

	"github.com/foxcpp/go-mockdns"

	"github.com/yubinmail/yubin/filters"
)

// The signed example of RFC 8463 appendix A.3: one message with an
// ed25519-sha256 and an rsa-sha256 signature, and the key records of
// appendix A.2.
const rfc8463Message = `DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;
 d=football.example.com; i=@football.example.com;
 q=dns/txt; s=brisbane; t=1528637909; h=from : to :
 subject : date : message-id : from : subject : date;
 bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;
 b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus
 Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;
 d=football.example.com; i=@football.example.com;
 q=dns/txt; s=test; t=1528637909; h=from : to : subject :
 date : message-id : from : subject : date;
 bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;
 b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3
 DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz
 dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=
From: Joe SixPack <joe@football.example.com>
To: Suzie Q <suzie@shopping.example.net>
Subject: Is dinner ready?
Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)
Message-ID: <20030712040037.46341.5F8J@football.example.com>

Hi.

We lost the game.  Are you hungry yet?

Joe.
`

func rfc8463Zones() map[string]mockdns.Zone {
	return map[string]mockdns.Zone{
		"brisbane._domainkey.football.example.com.": {TXT: []string{
			"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="}},
		"test._domainkey.football.example.com.": {TXT: []string{
			"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"}},
		"_dmarc.example.com.": {TXT: []string{"v=DMARC1; p=reject"}},
	}
}

func TestRFC8463Example(t *testing.T) {
	a := New(Options{Resolver: startDNS(t, rfc8463Zones()), Hostname: "mx.yubin.test"})
	raw := crlf(rfc8463Message)
	v := check(t, a, message(raw, badIP, "client.example.net", "joe@football.example.net"))
	got := arResults(t, v)
	if len(got["dkim"]) != 2 || got["dkim"][0] != "pass football.example.com" || got["dkim"][1] != "pass football.example.com" {
		t.Errorf("dkim = %q, want pass (ed25519), pass (rsa)", got["dkim"])
	}
	// DKIM aligns with the From domain under relaxed alignment: the
	// organizational domain's p=reject does not apply.
	if d := got["dmarc"]; len(d) != 1 || d[0] != "pass football.example.com" {
		t.Errorf("dmarc = %q, want pass", d)
	}
	if v.Action != filters.Accept {
		t.Errorf("Action = %v, want accept", v.Action)
	}

	// The same message altered in transit.
	v = check(t, a, message(crlf(rfc8463Message[:len(rfc8463Message)-5]+"Jack.\n"), badIP, "client.example.net", "joe@football.example.net"))
	got = arResults(t, v)
	if len(got["dkim"]) != 2 || got["dkim"][0] != "fail football.example.com" || got["dkim"][1] != "fail football.example.com" {
		t.Errorf("altered: dkim = %q, want fail, fail", got["dkim"])
	}
	if v.Action != filters.Reject {
		t.Errorf("altered: Action = %v, want reject (p=reject of example.com)", v.Action)
	}
}
