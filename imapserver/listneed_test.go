package imapserver

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestLeanListingsAnswerAlike: FETCH of flags only, SEARCH on flag keys
// only and SELECT list just UIDs, MODSEQs and flags, and SEARCH on address
// fields reads cached headers from memory. Over go-imap clients, alice in
// her mailbox and bob in it shared with private \Seen, every such answer
// must equal the one of the full listing, which the same command takes
// when it also asks for a date (an INTERNALDATE item, a SINCE key that
// every message meets) or the body (BODY "", which reads the messages).
func TestLeanListingsAnswerAlike(t *testing.T) {
	env := newTestEnv(t, nil)
	var msgs [][2]string
	for i := range 12 {
		msgs = append(msgs, [2]string{fmt.Sprint("lean ", i), "text"})
	}
	env.shareProjects(t, "lrswi", msgs...)
	for i := 12; i < 16; i++ {
		env.deliverTo(t, "Projects", testMessage(fmt.Sprint("lean ", i), `"Dora (desk)" <dora@example.net>`, "text"))
	}
	alice := env.loginAs(t, testAddr, nil)
	bob := env.loginAs(t, bobAddr, nil)
	for _, c := range []struct {
		c    *imapclient.Client
		box  string
		seen imap.SeqSet
	}{{alice, "Projects", imap.SeqSetNum(1, 2, 3, 14)}, {bob, sharedBox, imap.SeqSetNum(2, 5)}} {
		if _, err := c.c.Select(c.box, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		store := func(set imap.SeqSet, op imap.StoreFlagsOp, flags ...imap.Flag) {
			t.Helper()
			if err := c.c.Store(set, &imap.StoreFlags{Op: op, Silent: true, Flags: flags}, nil).Close(); err != nil {
				t.Fatal(err)
			}
		}
		store(c.seen, imap.StoreFlagsAdd, imap.FlagSeen)
		store(imap.SeqSetNum(3, 4, 9), imap.StoreFlagsAdd, imap.FlagFlagged, "$Label1")
		store(imap.SeqSetNum(9), imap.StoreFlagsDel, "$Label1")
	}
	// Bob's \Seen is his own, alice's hers: the answers differ by user.
	for _, c := range []struct {
		name string
		c    *imapclient.Client
		box  string
	}{{"alice", alice, "Projects"}, {"bob", bob, sharedBox}} {
		sel, err := c.c.Select(c.box, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		leanMsgs, err := c.c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		fullMsgs, err := c.c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true, InternalDate: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(leanMsgs) != 16 || len(fullMsgs) != 16 {
			t.Fatalf("%s: %d and %d messages fetched", c.name, len(leanMsgs), len(fullMsgs))
		}
		seen := 0
		for i := range leanMsgs {
			l, f := leanMsgs[i], fullMsgs[i]
			if l.UID != f.UID || !slices.Equal(l.Flags, f.Flags) {
				t.Errorf("%s: FETCH FLAGS of %d: %v, with INTERNALDATE %v", c.name, l.SeqNum, l.Flags, f.Flags)
			}
			if hasFlag(l.Flags, imap.FlagSeen) {
				seen++
			}
		}
		// A FETCH of bodies, sizes and EMAILIDs lists the messages without
		// their dates: the same answers as with INTERNALDATE.
		section := &imap.FetchItemBodySection{Peek: true}
		bodyOpts := &imap.FetchOptions{UID: true, Flags: true, RFC822Size: true, BodySection: []*imap.FetchItemBodySection{section}}
		leanBodies, err := c.c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, bodyOpts).Collect()
		if err != nil {
			t.Fatal(err)
		}
		withDate := *bodyOpts
		withDate.InternalDate = true
		fullBodies, err := c.c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &withDate).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(leanBodies) != 16 || len(fullBodies) != 16 {
			t.Fatalf("%s: %d and %d messages fetched with bodies", c.name, len(leanBodies), len(fullBodies))
		}
		for i := range leanBodies {
			l, f := leanBodies[i], fullBodies[i]
			lb, fb := l.FindBodySection(section), f.FindBodySection(section)
			if l.UID != f.UID || !slices.Equal(l.Flags, f.Flags) || l.RFC822Size != f.RFC822Size || len(lb) == 0 || string(lb) != string(fb) ||
				!slices.Equal(l.Flags, leanMsgs[i].Flags) || l.RFC822Size != int64(len(lb)) {
				t.Errorf("%s: FETCH of the body of %d: %v %d %d bytes, with INTERNALDATE %v %d %d bytes", c.name, l.SeqNum, l.Flags, l.RFC822Size, len(lb), f.Flags, f.RFC822Size, len(fb))
			}
		}
		if want := map[string]int{"alice": 4, "bob": 2}[c.name]; seen != want {
			t.Errorf("%s sees %d messages \\Seen, want %d", c.name, seen, want)
		}
		if !slices.Contains(sel.Flags, "$Label1") {
			t.Errorf("%s: SELECT's FLAGS %v lack $Label1", c.name, sel.Flags)
		}
		since := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, crit := range []imap.SearchCriteria{
			{NotFlag: []imap.Flag{imap.FlagSeen}},
			{Flag: []imap.Flag{imap.FlagSeen}},
			{Flag: []imap.Flag{"$Label1"}},
			{NotFlag: []imap.Flag{imap.FlagFlagged}, Flag: []imap.Flag{imap.FlagSeen}},
			{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagFlagged}}, {Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}}}}}},
			{UID: []imap.UIDSet{imap.UIDSetNum(2, 3, 4)}, NotFlag: []imap.Flag{imap.FlagDeleted}},
		} {
			lean, err := c.c.UIDSearch(&crit, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			full := crit
			full.Since = since
			want, err := c.c.UIDSearch(&full, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if got, w := lean.AllUIDs(), want.AllUIDs(); !slices.Equal(got, w) {
				t.Errorf("%s: SEARCH %+v: %v, with SINCE %v", c.name, crit, got, w)
			}
		}
		for _, crit := range []imap.SearchCriteria{
			{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "dora@example.net"}}},
			{Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "carol"}}},
			{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "lean 1"}}},
		} {
			var got []imap.UID
			for range 2 { // from the database, then from memory
				res, err := c.c.UIDSearch(&crit, nil).Wait()
				if err != nil {
					t.Fatal(err)
				}
				if got != nil && !slices.Equal(res.AllUIDs(), got) {
					t.Errorf("%s: SEARCH %+v: %v, then %v", c.name, crit, got, res.AllUIDs())
				}
				got = res.AllUIDs()
			}
			body := crit
			body.Body = []string{""}
			want, err := c.c.UIDSearch(&body, nil).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want.AllUIDs()) || len(got) == 0 {
				t.Errorf("%s: SEARCH %+v: %v, reading the messages %v", c.name, crit, got, want.AllUIDs())
			}
		}
	}
}
