package filters

import (
	"context"
	"log/slog"
)

// PassThrough returns a filter that accepts every message. It is the whole
// default chain until real filters exist.
func PassThrough() Filter {
	return passThrough{}
}

type passThrough struct{}

// Name returns "passthrough".
func (passThrough) Name() string { return "passthrough" }

// Check accepts msg.
func (passThrough) Check(context.Context, *Message) (Verdict, error) {
	return Verdict{}, nil
}

// NewDefaultChain returns the chain used when no filters are configured:
// today a single PassThrough stage.
func NewDefaultChain(logger *slog.Logger) *Chain {
	return NewChain(logger, Stage{Filter: PassThrough(), Enabled: true})
}
