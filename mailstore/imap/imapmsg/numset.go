package imapmsg

import "github.com/emersion/go-imap/v2"

// inSeqSet reports whether n is in set, where "*" (stored as 0) stands for
// max and a range may be given in either order (RFC 9051 §9, seq-range).
func inSeqSet(set imap.SeqSet, n, max uint32) bool {
	if n == 0 {
		return false
	}
	for _, r := range set {
		if inRange(r.Start, r.Stop, n, max) {
			return true
		}
	}
	return false
}

// inUIDSet is inSeqSet for UIDs. The SEARCHRES marker ("$") is an empty set
// and matches nothing; callers must substitute the saved result first.
func inUIDSet(set imap.UIDSet, uid, max imap.UID) bool {
	if uid == 0 {
		return false
	}
	for _, r := range set {
		if inRange(uint32(r.Start), uint32(r.Stop), uint32(uid), uint32(max)) {
			return true
		}
	}
	return false
}

// inRange reports whether n lies in start:stop after replacing "*" by max.
func inRange(start, stop, n, max uint32) bool {
	if start == 0 {
		start = max
	}
	if stop == 0 {
		stop = max
	}
	if start > stop {
		start, stop = stop, start
	}
	return start <= n && n <= stop
}
