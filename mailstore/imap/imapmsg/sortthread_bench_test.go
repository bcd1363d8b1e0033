package imapmsg

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// syntheticMailbox is the size of the SORT and THREAD benchmarks' mailbox.
const syntheticMailbox = 50000

// syntheticHeaders returns n message headers that look like a busy mailbox:
// most messages reply to an earlier one (References and In-Reply-To),
// subjects repeat with "Re:" and list tags, some are Japanese, dates
// wander. The same n always gives the same headers.
func syntheticHeaders(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	subjects := []string{"Quarterly report", "Lunch on Friday?", "[dev] build broken", "Invoice 2024-%d",
		"=?UTF-8?B?5Lya6K2w44Gu5Lu2?=", "Meeting notes", "Re: holiday plans", "Server migration"}
	names := []string{"Alice Example", "Bob", "=?UTF-8?Q?J=C3=B6rg?=", "", "\"Doe, Jane\"", "山田太郎"}
	type msg struct {
		refs    string
		parent  string
		subject string
	}
	msgs := make([]msg, n)
	out := make([][]byte, n)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		m := msg{subject: fmt.Sprintf(subjects[rng.IntN(len(subjects))], i%12)}
		if i > 0 && rng.IntN(10) < 6 {
			p := rng.IntN(i)
			m.parent = fmt.Sprintf("<m%d@example.com>", p)
			m.refs = msgs[p].refs + " " + m.parent
			if len(m.refs) > 2000 {
				m.refs = m.refs[len(m.refs)-2000:]
			}
			m.subject = "Re: " + msgs[p].subject
		}
		msgs[i] = m
		name := names[rng.IntN(len(names))]
		date := base.Add(time.Duration(i)*7*time.Minute + time.Duration(rng.IntN(3600))*time.Second)
		h := fmt.Sprintf("Return-Path: <u%d@example.org>\r\nReceived: from mx.example.org by mail.example.com; %s\r\n"+
			"From: %s <user%d@example.org>\r\nTo: team%d@example.com\r\nCc: c%d@example.net\r\nSubject: %s\r\n"+
			"Date: %s\r\nMessage-ID: <m%d@example.com>\r\n",
			i%97, date.Format(time.RFC1123Z), name, i%331, i%7, i%13, m.subject, date.Format(time.RFC1123Z), i)
		if m.refs != "" {
			h += "References:" + m.refs + "\r\nIn-Reply-To: " + m.parent + "\r\n"
		}
		out[i] = []byte(h + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	}
	return out
}

func BenchmarkSortKeyOf(b *testing.B) {
	hs := syntheticHeaders(1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		SortKeyOf(hs[i%len(hs)], nil)
	}
}

func BenchmarkThreadInfoOf(b *testing.B) {
	hs := syntheticHeaders(1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ThreadInfoOf(hs[i%len(hs)])
	}
}

// benchSort sorts the synthetic mailbox by criteria.
func benchSort(b *testing.B, criteria string) {
	hs := syntheticHeaders(syntheticMailbox)
	cs, err := ParseSortCriteria(strings.Fields(criteria))
	if err != nil {
		b.Fatal(err)
	}
	records := make([]SortRecord, len(hs))
	for i, h := range hs {
		records[i] = SortRecord{SeqNum: uint32(i + 1), UID: imap.UID(i + 1), InternalDate: time.Unix(int64(i), 0), Size: int64(len(h)), Key: SortKeyOf(h, cs)}
	}
	work := make([]SortRecord, len(records))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(work, records)
		Sort(work, cs)
	}
}

func BenchmarkSort50kDate(b *testing.B)               { benchSort(b, "REVERSE DATE") }
func BenchmarkSort50kSubjectFrom(b *testing.B)        { benchSort(b, "SUBJECT FROM") }
func BenchmarkSort50kDisplayFromArrival(b *testing.B) { benchSort(b, "DISPLAYFROM REVERSE ARRIVAL") }

// BenchmarkSort50kWithKeys includes extracting the keys from the headers,
// what a SORT without a cache costs beyond reading the headers.
func BenchmarkSort50kWithKeys(b *testing.B) {
	hs := syntheticHeaders(syntheticMailbox)
	cs := []SortCriterion{{Field: SortSubject}, {Field: SortDate, Reverse: true}}
	records := make([]SortRecord, len(hs))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, h := range hs {
			records[j] = SortRecord{SeqNum: uint32(j + 1), Key: SortKeyOf(h, cs)}
		}
		Sort(records, cs)
	}
}

// benchThread threads the synthetic mailbox.
func benchThread(b *testing.B, alg imap.ThreadAlgorithm) {
	hs := syntheticHeaders(syntheticMailbox)
	records := make([]ThreadRecord, len(hs))
	for i, h := range hs {
		records[i] = ThreadRecord{SeqNum: uint32(i + 1), UID: imap.UID(i + 1), InternalDate: time.Unix(int64(i), 0), Info: ThreadInfoOf(h)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var out []byte
	for i := 0; i < b.N; i++ {
		threads, err := Thread(alg, records)
		if err != nil {
			b.Fatal(err)
		}
		out = AppendThreads(out[:0], threads, true)
	}
}

func BenchmarkThread50kReferences(b *testing.B)     { benchThread(b, imap.ThreadReferences) }
func BenchmarkThread50kOrderedSubject(b *testing.B) { benchThread(b, imap.ThreadOrderedSubject) }

// TestSyntheticMailboxThreads checks the benchmark mailbox threads into a
// valid result, so the benchmarks measure real work.
func TestSyntheticMailboxThreads(t *testing.T) {
	hs := syntheticHeaders(2000)
	records := make([]ThreadRecord, len(hs))
	for i, h := range hs {
		records[i] = ThreadRecord{SeqNum: uint32(i + 1), UID: imap.UID(i + 1), Info: ThreadInfoOf(h)}
	}
	for _, alg := range []imap.ThreadAlgorithm{imap.ThreadReferences, imap.ThreadOrderedSubject} {
		threads, err := Thread(alg, records)
		if err != nil {
			t.Fatal(err)
		}
		checkThreads(t, threads, len(hs), alg == imap.ThreadOrderedSubject)
		if len(threads) >= len(hs)/2 {
			t.Errorf("%s: %d threads for %d messages; the mailbox should be mostly replies", alg, len(threads), len(hs))
		}
	}
}
