// Package vcsinfo reads what the Go tool recorded about a build's
// source: the commit it was built from and whether the tree had changes.
package vcsinfo

import "runtime/debug"

// Revision returns the VCS commit of info ("" when none was recorded,
// e.g. with -buildvcs=false) and whether the working tree was modified.
func Revision(info *debug.BuildInfo) (rev string, modified bool) {
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return rev, modified
}
