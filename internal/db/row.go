package db

import (
	"database/sql"
	"errors"
)

// Row is the first row of a query's result, or the error that kept it
// from coming: what *sql.Row is, without its trap. gorm answers
// QueryRowContext on its prepared-statement pools with an empty *sql.Row
// when the statement could not be prepared (a deadline, a busy or
// unreachable database), and (*gorm.DB).Row() with nil after an error;
// Scan on either panics instead of returning the error. Queries of one row
// go through FirstRow instead.
type Row struct {
	rows *sql.Rows
	err  error
}

// errNoResult: a query gave neither rows nor an error.
var errNoResult = errors.New("db: query returned no result and no error")

// FirstRow wraps the result of a QueryContext (or of gorm's Rows()) as
// its first row.
func FirstRow(rows *sql.Rows, err error) Row {
	if err == nil && rows == nil {
		err = errNoResult
	}
	return Row{rows: rows, err: err}
}

// Scan copies the first row's columns into dest and closes the result;
// sql.ErrNoRows when there is no row.
func (r Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.rows.Close()
}
