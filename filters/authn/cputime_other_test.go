//go:build !unix

package authn

import "time"

// processCPUTime returns 0: the CPU time is not measured on this system.
func processCPUTime() time.Duration { return 0 }
