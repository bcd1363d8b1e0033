package mailstore

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// TestColumnsCoverModels keeps the written-out user and domain queries
// (hotsql.go) in step with the models: a field added to User or Domain
// must be read there too.
func TestColumnsCoverModels(t *testing.T) {
	for _, c := range []struct {
		model   any
		columns string
	}{{&User{}, userColumns}, {&Domain{}, domainColumns}} {
		sch, err := schema.Parse(c.model, &sync.Map{}, schema.NamingStrategy{})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, f := range sch.Fields {
			if f.DBName != "" {
				want = append(want, f.DBName)
			}
		}
		got := strings.Split(c.columns, ", ")
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%T: columns %v, the model has %v", c.model, got, want)
		}
	}
}
