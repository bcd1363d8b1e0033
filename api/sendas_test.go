package api

import (
	"context"
	"net/http"
	"testing"
)

// TestSendAsRoles checks who may give, see and take back send-as rights:
// a server admin anywhere, a domain admin for the addresses and users of
// their domain, the user only their own list.
func TestSendAsRoles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addDomain("a.example")
	e.addDomain("b.example")
	e.addUser("dana@a.example", "dana-password")
	e.addUser("ann@a.example", "ann-password")
	e.addUser("bob@b.example", "bob-password")
	e.addUser("info@b.example", "info-password")
	e.must(http.StatusCreated, "POST", "/api/v1/aliases", e.admin, map[string]any{"address": "office@a.example", "targets": []string{"dana@a.example"}}, nil)
	if err := e.store.AddDomainAdmin(ctx, "dana@a.example", "a.example"); err != nil {
		t.Fatal(err)
	}
	dana := e.login("dana@a.example", "dana-password")
	ann := e.login("ann@a.example", "ann-password")
	bob := e.login("bob@b.example", "bob-password")

	// The domain admin gives an address of her domain to a user of her
	// domain, but neither another domain's address nor to its users.
	e.must(http.StatusCreated, "POST", "/api/v1/users/ann@a.example/send-as", dana, map[string]any{"address": "office@a.example"}, nil)
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/users/ann@a.example/send-as", dana, map[string]any{"address": "info@b.example"})
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/users/bob@b.example/send-as", dana, map[string]any{"address": "office@a.example"})
	// A user cannot give themself a right.
	e.problem(http.StatusForbidden, kindForbidden, "POST", "/api/v1/users/ann@a.example/send-as", ann, map[string]any{"address": "dana@a.example"})
	// The server admin gives anything to anyone.
	e.must(http.StatusCreated, "POST", "/api/v1/users/bob@b.example/send-as", e.admin, map[string]any{"address": "office@a.example"}, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/users/ann@a.example/send-as", e.admin, map[string]any{"address": "info@b.example"}, nil)

	// The user sees their own rights, not others'.
	var l struct {
		Items []struct{ Address string } `json:"items"`
	}
	e.must(http.StatusOK, "GET", "/api/v1/users/ann@a.example/send-as", ann, nil, &l)
	if len(l.Items) != 2 || l.Items[0].Address != "info@b.example" || l.Items[1].Address != "office@a.example" {
		t.Errorf("ann's rights %+v", l)
	}
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/users/bob@b.example/send-as", ann, nil)
	e.problem(http.StatusForbidden, kindForbidden, "GET", "/api/v1/users/bob@b.example/send-as", dana, nil)
	e.must(http.StatusOK, "GET", "/api/v1/users/bob@b.example/send-as", bob, nil, nil)

	// The domain admin of the address takes back a right given to a user
	// of another domain; a user cannot drop a right of someone else, and
	// a domain admin not one of neither of her domains.
	e.problem(http.StatusForbidden, kindForbidden, "DELETE", "/api/v1/users/ann@a.example/send-as/office@a.example", bob, nil)
	e.must(http.StatusNoContent, "DELETE", "/api/v1/users/bob@b.example/send-as/office@a.example", dana, nil, nil)
	e.must(http.StatusCreated, "POST", "/api/v1/users/bob@b.example/send-as", e.admin, map[string]any{"address": "info@b.example"}, nil)
	e.problem(http.StatusForbidden, kindForbidden, "DELETE", "/api/v1/users/bob@b.example/send-as/info@b.example", dana, nil)
	e.must(http.StatusNoContent, "DELETE", "/api/v1/users/bob@b.example/send-as/info@b.example", e.admin, nil, nil)
	e.problem(http.StatusNotFound, kindNotFound, "DELETE", "/api/v1/users/bob@b.example/send-as/info@b.example", e.admin, nil)
}
