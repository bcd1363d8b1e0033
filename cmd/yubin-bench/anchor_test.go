package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/yubinmail/yubin/internal/pgcluster"
)

func TestParseAgainst(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "old-yubin")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	notExe := filepath.Join(dir, "not-executable")
	if err := os.WriteFile(notExe, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args    []string
		against string
		other   string
		err     string // a part of the error; "" for none
	}{
		{args: []string{"--against", "classic"}, against: "classic"},
		{args: []string{"--against", "yubin-postgres"}, against: "yubin-postgres"},
		{args: []string{"--against=yubin:" + exe}, against: "yubin:" + exe, other: exe},
		{args: []string{"--against", "yubin:"}, err: "not an executable yubin binary"},
		{args: []string{"--against", "yubin:" + filepath.Join(dir, "missing")}, err: "not an executable yubin binary"},
		{args: []string{"--against", "yubin:" + dir}, err: "not an executable yubin binary"},
		{args: []string{"--against", "yubin:" + notExe}, err: "not an executable yubin binary"},
		{args: []string{"--against", "postgres"}, err: "want classic, yubin-postgres or yubin:PATH"},
		{args: []string{"--against", "yubin"}, err: "unknown anchor"},
		{args: []string{"--against", "yubin-postgres", "--database", "postgres://u:p@127.0.0.1/db"}, err: "do not go together"},
		{args: []string{"--against", "yubin:" + exe, "--database", "postgres://u:p@127.0.0.1/db"}, err: "do not go together"},
	} {
		o, err := parseFlags(tc.args, io.Discard)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one with %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if o.against != tc.against || o.otherYubin != tc.other {
			t.Errorf("%q: against %q, other %q; want %q, %q", tc.args, o.against, o.otherYubin, tc.against, tc.other)
		}
		// Every anchor gets the compared scenarios by default.
		if !slices.Equal(o.scenarios, comparedScenarios) {
			t.Errorf("%q: scenarios %q, want %q", tc.args, o.scenarios, comparedScenarios)
		}
	}
	o, err := parseFlags([]string{"--against", "yubin-postgres", "--scenarios", "intake,imap"}, io.Discard)
	if err != nil || !slices.Equal(o.scenarios, []string{"intake", "imap"}) {
		t.Errorf("--scenarios with an anchor: %v, %v", o, err)
	}
}

func TestNameFromBuild(t *testing.T) {
	info := func(kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{}
		for i := 0; i+1 < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	for _, tc := range []struct {
		info *debug.BuildInfo
		want string
	}{
		{info("vcs.revision", "a16d8ab0123456789", "vcs.modified", "false"), "Yubin a16d8ab"},
		{info("vcs.revision", "94d2b68ffff", "vcs.modified", "true"), "Yubin 94d2b68-dirty"},
		{info("vcs.revision", "abc"), "Yubin abc"},
		{info(), "Yubin /tmp/old-yubin"},
	} {
		if got := nameFromBuild(tc.info, "/tmp/old-yubin"); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.info.Settings, got, tc.want)
		}
	}
	// A file that is no Go binary is named by its path.
	sh := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(sh, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got := yubinName(sh); got != "Yubin "+sh {
		t.Errorf("yubinName(script) = %q", got)
	}
}

// TestReportNamesAnchor: with Yubin as its own anchor the report names
// both sides as they are (never the classic stack), says what the anchor
// runs on, and files each side's logged problems under its name.
func TestReportNamesAnchor(t *testing.T) {
	for _, tc := range []struct {
		systems  []string
		software string
	}{
		{[]string{"Yubin on SQLite", "Yubin on PostgreSQL"}, "Yubin on PostgreSQL: the same binary with YUBIN_DATABASE on PostgreSQL 15"},
		{[]string{"Yubin 94d2b68", "Yubin a16d8ab"}, "Yubin a16d8ab: the binary /tmp/old-yubin, on SQLite like Yubin 94d2b68"},
	} {
		r := &report{o: &options{rounds: 1, scenarios: []string{"intake"}}, systems: tc.systems,
			anchor: tc.systems[1], anchorSoftware: tc.software,
			serverProblems: []string{"first's warning"}, anchorProblems: []string{"second's warning"}}
		r.figs.add("SMTP intake", "msg/s", true, tc.systems[0], 0, 200)
		r.figs.add("SMTP intake", "msg/s", true, tc.systems[1], 0, 100)
		md := r.markdown()
		for _, want := range []string{
			"### Side by side: " + tc.systems[0] + " and " + tc.systems[1] + ", measured in the same run",
			"| figure | " + tc.systems[0] + " (median) | " + tc.systems[1] + " (median) |",
			"| SMTP intake | 200 msg/s | 100 msg/s | 2.00× | **2.00×** |",
			"- " + tc.systems[0] + ": Yubin's own SQLite in its data folder, as by default\n",
			"- " + tc.software + "\n",
			"- " + tc.systems[0] + " logged 1 warnings or errors; the first ones:\n  - `first's warning`",
			"- " + tc.systems[1] + " logged 1 warnings or errors; the first ones:\n  - `second's warning`",
		} {
			if !strings.Contains(md, want) {
				t.Errorf("report lacks %q:\n%s", want, md)
			}
		}
		for _, wrong := range []string{"Postfix", "Dovecot", "classic stack logged"} {
			if strings.Contains(md, wrong) {
				t.Errorf("report of %q mentions %q:\n%s", tc.systems, wrong, md)
			}
		}
	}
}

// TestQuickAgainstPostgres runs intake, imap and stress in their --quick
// form on the same binary on SQLite and on a PostgreSQL server the tool
// starts itself with production durability. It needs PostgreSQL's binaries
// (Debian's package postgresql); without them it is skipped.
func TestQuickAgainstPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real servers: skipped with -short")
	}
	if _, err := pgcluster.FindBin(); errors.Is(err, pgcluster.ErrNoBinaries) {
		t.Skipf("%v", err)
	}
	_, rep, md := runQuick(t, 8*time.Minute, "--quick", "--against", "yubin-postgres", "--scenarios", "intake,imap,stress")
	if !slices.Equal(rep.systems, []string{"Yubin on SQLite", "Yubin on PostgreSQL"}) {
		t.Errorf("systems %q", rep.systems)
	}
	if len(rep.figs.list) < 15 {
		t.Errorf("only %d figures", len(rep.figs.list))
	}
	for _, f := range rep.figs.list {
		if rs := f.ratios(rep.systems[0], rep.systems[1]); len(rs) != 1 || !(rs[0] > 0) {
			t.Errorf("figure %q: ratios %v (values %v)", f.label, rs, f.rounds)
		}
	}
	for _, want := range []string{"### Side by side: Yubin on SQLite and Yubin on PostgreSQL",
		"`fsync = on`, `synchronous_commit = on`, `full_page_writes = on`", "(PostgreSQL) 1"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	// Both stored every accepted message.
	for _, row := range rep.intake {
		if !row.checked || row.inbox != row.run.Accepted || row.run.Accepted == 0 {
			t.Errorf("intake: %s: %s", row.system, row.summary())
		}
	}
	if p := unexpectedProblems(rep.anchorProblems); len(p) > 0 {
		t.Errorf("Yubin on PostgreSQL logged warnings or errors:\n%s", strings.Join(p, "\n"))
	}
}
