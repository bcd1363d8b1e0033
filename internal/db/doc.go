// Package db opens the server's database and says how its engine differs:
// it is the only package that imports a database driver. An empty DSN (or
// a file path) opens SQLite in the data folder, in WAL mode with a pool of
// readers and a writer pool; a postgres:// DSN opens PostgreSQL. Dialect
// holds what the SQL of the two engines does not share (how a write
// transaction begins, which errors mean "busy", integrity checks,
// checkpoints, locks for migrations), and WriterConn is the connection the
// store's group-commit writer holds for its lifetime.
package db
