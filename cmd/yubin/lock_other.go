//go:build !unix

package main

// lockDataDir does nothing where flock is not available: do not start two
// servers on one data folder there.
func lockDataDir(string) (unlock func(), err error) { return func() {}, nil }

// privateUmask does nothing where there is no umask.
func privateUmask() {}
