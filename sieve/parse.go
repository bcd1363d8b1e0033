package sieve

// argKind is the kind of a command or test argument.
type argKind uint8

const (
	argString     argKind = iota + 1 // a single string (may be used where a list is expected)
	argStringList                    // a bracketed string list
	argNumber
	argTag
)

func (k argKind) String() string {
	switch k {
	case argString:
		return "string"
	case argStringList:
		return "string list"
	case argNumber:
		return "number"
	case argTag:
		return "tag"
	}
	return "argument"
}

// arg is one parsed argument.
type arg struct {
	kind argKind
	pos  Pos
	strs []string // argString (one element) and argStringList
	num  uint64   // argNumber
	tag  string   // argTag, lower case without the colon
}

// rawNode is a command or test as parsed, before validation.
type rawNode struct {
	pos      Pos
	name     string
	args     []arg
	tests    []*rawNode
	testList bool // tests were given in parentheses
	block    []*rawNode
	hasBlock bool
}

// parser builds rawNodes from tokens (RFC 5228 section 8.2).
type parser struct {
	lex      *lexer
	tok      token
	maxDepth int
}

func (p *parser) advance() error {
	t, err := p.lex.next()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

func (p *parser) expect(k tokenKind, what string) error {
	if p.tok.kind != k {
		return errorf(p.tok.pos, "expected %s, found %s", what, describe(p.tok))
	}
	return p.advance()
}

// describe names a token for an error message.
func describe(t token) string {
	switch t.kind {
	case tokIdentifier:
		return "identifier \"" + t.text + "\""
	case tokTag:
		return "tag \":" + t.text + "\""
	}
	return t.kind.String()
}

// parseCommands parses commands until "}" (inside a block) or the end.
func (p *parser) parseCommands(depth int) ([]*rawNode, error) {
	var cmds []*rawNode
	for p.tok.kind == tokIdentifier {
		c, err := p.parseCommand(depth)
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, c)
	}
	return cmds, nil
}

func (p *parser) parseCommand(depth int) (*rawNode, error) {
	n := &rawNode{pos: p.tok.pos, name: p.tok.text}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if err := p.parseArguments(n, depth); err != nil {
		return nil, err
	}
	switch p.tok.kind {
	case tokSemicolon:
		return n, p.advance()
	case tokLBrace:
		if depth+1 > p.maxDepth {
			return nil, errorf(p.tok.pos, "blocks nested deeper than %d levels", p.maxDepth)
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		block, err := p.parseCommands(depth + 1)
		if err != nil {
			return nil, err
		}
		n.block, n.hasBlock = block, true
		return n, p.expect(tokRBrace, `"}" or a command`)
	}
	return nil, errorf(p.tok.pos, "expected \";\" or a block after command %q, found %s", n.name, describe(p.tok))
}

// parseArguments reads *argument [test / test-list] into n.
func (p *parser) parseArguments(n *rawNode, depth int) error {
	for {
		switch p.tok.kind {
		case tokTag:
			n.args = append(n.args, arg{kind: argTag, pos: p.tok.pos, tag: p.tok.text})
		case tokNumber:
			n.args = append(n.args, arg{kind: argNumber, pos: p.tok.pos, num: p.tok.num})
		case tokString:
			n.args = append(n.args, arg{kind: argString, pos: p.tok.pos, strs: []string{p.tok.text}})
		case tokLBracket:
			a, err := p.parseStringList()
			if err != nil {
				return err
			}
			n.args = append(n.args, a)
			continue
		case tokIdentifier:
			t, err := p.parseTest(depth + 1)
			if err != nil {
				return err
			}
			n.tests = []*rawNode{t}
			return nil
		case tokLParen:
			if depth+1 > p.maxDepth {
				return errorf(p.tok.pos, "tests nested deeper than %d levels", p.maxDepth)
			}
			if err := p.advance(); err != nil {
				return err
			}
			n.testList = true
			for {
				t, err := p.parseTest(depth + 1)
				if err != nil {
					return err
				}
				n.tests = append(n.tests, t)
				if p.tok.kind != tokComma {
					break
				}
				if err := p.advance(); err != nil {
					return err
				}
			}
			return p.expect(tokRParen, `"," or ")" in the test list`)
		default:
			return nil
		}
		if err := p.advance(); err != nil {
			return err
		}
	}
}

func (p *parser) parseStringList() (arg, error) {
	a := arg{kind: argStringList, pos: p.tok.pos}
	if err := p.advance(); err != nil {
		return a, err
	}
	for {
		if p.tok.kind != tokString {
			return a, errorf(p.tok.pos, "expected a string in the string list, found %s", describe(p.tok))
		}
		a.strs = append(a.strs, p.tok.text)
		if err := p.advance(); err != nil {
			return a, err
		}
		if p.tok.kind == tokRBracket {
			return a, p.advance()
		}
		if err := p.expect(tokComma, `"," or "]" in the string list`); err != nil {
			return a, err
		}
	}
}

func (p *parser) parseTest(depth int) (*rawNode, error) {
	if depth > p.maxDepth {
		return nil, errorf(p.tok.pos, "tests nested deeper than %d levels", p.maxDepth)
	}
	if p.tok.kind != tokIdentifier {
		return nil, errorf(p.tok.pos, "expected a test, found %s", describe(p.tok))
	}
	n := &rawNode{pos: p.tok.pos, name: p.tok.text}
	if err := p.advance(); err != nil {
		return nil, err
	}
	return n, p.parseArguments(n, depth)
}

// parseScript parses a whole script into its top-level commands.
func parseScript(src string, lim Limits) ([]*rawNode, error) {
	p := &parser{lex: newLexer(src, lim.MaxStringBytes), maxDepth: lim.MaxNesting}
	if err := p.advance(); err != nil {
		return nil, err
	}
	cmds, err := p.parseCommands(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, errorf(p.tok.pos, "expected a command, found %s", describe(p.tok))
	}
	return cmds, nil
}
