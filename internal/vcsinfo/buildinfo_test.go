package vcsinfo

import (
	"runtime/debug"
	"testing"
)

func TestRevision(t *testing.T) {
	for _, c := range []struct {
		settings []debug.BuildSetting
		rev      string
		modified bool
	}{
		{nil, "", false},
		{[]debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "false"}}, "abc123", false},
		{[]debug.BuildSetting{{Key: "vcs.modified", Value: "true"}, {Key: "vcs.revision", Value: "def456"}}, "def456", true},
	} {
		rev, mod := Revision(&debug.BuildInfo{Settings: c.settings})
		if rev != c.rev || mod != c.modified {
			t.Errorf("%v: got %q %v, want %q %v", c.settings, rev, mod, c.rev, c.modified)
		}
	}
}
