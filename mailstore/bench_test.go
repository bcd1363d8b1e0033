package mailstore

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// benchDelivery returns a store with one user, and a delivery of a 4 KiB
// message to that user's INBOX to run again and again.
func benchDelivery(b *testing.B) (*Store, func() Delivery) {
	s := openTestStore(b)
	u := newTestUser(b, s, "bench@example.com")
	body := []byte("Subject: bench\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 64))
	b.SetBytes(int64(len(body)))
	return s, func() Delivery {
		return Delivery{Targets: []DeliveryTarget{{UserID: u.ID}}, Body: bytes.NewReader(body)}
	}
}

func deliverOrFail(b *testing.B, s *Store, d Delivery) {
	res, err := s.Deliver(context.Background(), d)
	if err != nil || res[0].Err != nil {
		b.Fatal(err, res)
	}
}

// BenchmarkDeliverParallel measures durable deliveries per second with many
// concurrent writers, which the group commit batches into shared fsyncs.
func BenchmarkDeliverParallel(b *testing.B) {
	s, delivery := benchDelivery(b)
	b.SetParallelism(10) // 10 × GOMAXPROCS concurrent deliveries
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			deliverOrFail(b, s, delivery())
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDeliverSerial measures one delivery after another from a single
// writer: every message pays the whole durable commit path on its own (the
// one-session intake case).
func BenchmarkDeliverSerial(b *testing.B) {
	s, delivery := benchDelivery(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		deliverOrFail(b, s, delivery())
	}
}

// benchMailbox returns a store with a user whose INBOX holds n messages.
func benchMailbox(b *testing.B, n int) (*Store, *Mailbox, func() Delivery) {
	s, delivery := benchDelivery(b)
	for range n {
		deliverOrFail(b, s, delivery())
	}
	u, err := s.GetUser(context.Background(), "bench@example.com")
	if err != nil {
		b.Fatal(err)
	}
	inbox, err := s.GetMailbox(context.Background(), u.ID, Inbox)
	if err != nil {
		b.Fatal(err)
	}
	return s, inbox, delivery
}

// BenchmarkStoreFlags measures IMAP STORE of one flag on one message, on
// and off in turn (the writer's hand-written statements, writesql.go).
func BenchmarkStoreFlags(b *testing.B) {
	s, inbox, _ := benchMailbox(b, 100)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		op := FlagsAdd
		if i%2 == 1 {
			op = FlagsRemove
		}
		if _, err := s.StoreFlags(ctx, inbox.ID, UIDs(uint32(i%100)+1), op, []string{FlagFlagged}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpunge measures IMAP EXPUNGE of one message marked \Deleted,
// with the delivery that brings the next one (the mailbox stays the same
// size).
func BenchmarkExpunge(b *testing.B) {
	s, inbox, delivery := benchMailbox(b, 100)
	ctx := context.Background()
	uid := uint32(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.StoreFlags(ctx, inbox.ID, UIDs(uid), FlagsAdd, []string{FlagDeleted}); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Expunge(ctx, inbox.ID, UIDs(uid)); err != nil {
			b.Fatal(err)
		}
		uid++
		b.StopTimer()
		deliverOrFail(b, s, delivery())
		b.StartTimer()
	}
}
