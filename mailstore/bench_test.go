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
