package imapserver

import "strings"

// previewModifiers reads the optional modifiers of the PREVIEW fetch
// item (RFC 8970 §3: "PREVIEW" [SP "(" preview-mod *(SP preview-mod)
// ")"], preview-mod = "LAZY"). A list that does not start with LAZY is
// left alone: after a lone item it is FETCH's own modifier list.
//
// LAZY allows the server to answer NIL when the preview is not at hand;
// Yubin computes it from the message in the same pass, so LAZY gets the
// preview like a plain PREVIEW.
func (r *reader) previewModifiers() error {
	rest := r.line[r.pos:]
	if len(rest) < len(" (LAZY") || rest[0] != ' ' || rest[1] != '(' {
		return nil
	}
	save := r.pos
	r.pos += 2
	if !r.peekAtom("LAZY") {
		r.pos = save
		return nil
	}
	for {
		a, err := r.atom("a PREVIEW modifier")
		if err != nil {
			return err
		}
		if !strings.EqualFold(a, "LAZY") {
			return badf("Unknown PREVIEW modifier %s", a)
		}
		if r.accept(')') {
			return nil
		}
		if err := r.sp(); err != nil {
			return err
		}
	}
}

// peekAtom reports whether the atom w (case-insensitive) comes next,
// followed by something that ends an atom.
func (r *reader) peekAtom(w string) bool {
	rest := r.line[r.pos:]
	if len(rest) < len(w) || !strings.EqualFold(string(rest[:len(w)]), w) {
		return false
	}
	return len(rest) == len(w) || !isAtomChar(rest[len(w)])
}
