package spam

import (
	"context"
	"testing"

	"github.com/yubinmail/yubin/mailstore"
)

var _ TokenStore = (*mailstore.BayesStore)(nil)

// TestClassifierOnMailstore runs the classifier test on the database-backed
// token store.
func TestClassifierOnMailstore(t *testing.T) {
	s, err := mailstore.Open(context.Background(), mailstore.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	testClassifier(t, s.BayesTokens())
}
