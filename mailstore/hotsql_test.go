package mailstore

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm/schema"
)

// TestUserColumnsCoverUser keeps the written-out user query (hotsql.go) in
// step with the model: a field added to User must be read there too.
func TestUserColumnsCoverUser(t *testing.T) {
	sch, err := schema.Parse(&User{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range sch.Fields {
		if f.DBName != "" {
			want = append(want, f.DBName)
		}
	}
	got := strings.Split(userColumns, ", ")
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("userColumns = %v, User has %v", got, want)
	}
}
