package sieve

import "sort"

// valueType is what a positional argument or a tag's value must be.
type valueType uint8

const (
	vNone       valueType = iota // a tag without a value
	vString                      // one string
	vStringList                  // a string or a string list
	vNumber
)

// String describes v for error messages.
func (v valueType) String() string {
	switch v {
	case vString:
		return "a string"
	case vStringList:
		return "a string list"
	case vNumber:
		return "a number"
	}
	return "nothing"
}

// tagSpec describes one optional tagged argument.
type tagSpec struct {
	value valueType
	group string // tags of one group exclude each other ("" for none)
	ext   string // capability the tag needs ("" for none)
}

// testArity says how many tests a command or test takes.
type testArity uint8

const (
	noTest testArity = iota
	oneTest
	testList
)

// spec describes a command or test (RFC 5228 section 2.6 and the
// extensions).
type spec struct {
	test       bool // a test, not a command
	ext        string
	tags       map[string]tagSpec
	positional []valueType
	optional   int // number of leading positionals that may be left out
	tests      testArity
	block      bool // a block follows (if, elsif, else)
}

// Capability names this package implements.
const (
	extFileinto     = "fileinto"
	extReject       = "reject"
	extEreject      = "ereject"
	extEnvelope     = "envelope"
	extBody         = "body"
	extImap4flags   = "imap4flags"
	extVariables    = "variables"
	extRelational   = "relational"
	extCopy         = "copy"
	extDate         = "date"
	extIndex        = "index"
	extMailbox      = "mailbox"
	extVacation     = "vacation"
	extSubaddress   = "subaddress"
	extEncodedChar  = "encoded-character"
	comparatorOctet = "i;octet"
	comparatorASCII = "i;ascii-casemap"
	comparatorUni   = "i;unicode-casemap"
	comparatorNum   = "i;ascii-numeric"
)

// Extensions returns the capabilities this package implements, sorted, in
// the form a ManageSieve SIEVE capability or a "require" uses.
func Extensions() []string {
	exts := []string{extFileinto, extReject, extEreject, extEnvelope, extBody, extImap4flags,
		extVariables, extRelational, extCopy, extDate, extIndex, extMailbox, extVacation,
		extSubaddress, extEncodedChar,
		"comparator-" + comparatorOctet, "comparator-" + comparatorASCII,
		"comparator-" + comparatorUni, "comparator-" + comparatorNum}
	sort.Strings(exts)
	return exts
}

// knownExtension reports whether name is a capability "require" accepts.
func knownExtension(name string) bool {
	for _, e := range Extensions() {
		if e == name {
			return true
		}
	}
	return false
}

// merge returns the union of tag maps.
func merge(maps ...map[string]tagSpec) map[string]tagSpec {
	out := map[string]tagSpec{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// Tag groups shared by several tests.
const (
	groupMatch       = "match type"
	groupComparator  = "comparator"
	groupAddressPart = "address part"
	groupTransform   = "body transform"
	groupZone        = "zone"
	groupSize        = "size"
	groupIndex       = "index"
	groupCase        = "case modifier"
	groupFirst       = "first-letter modifier"
)

// specs returns the table of commands and tests. It is built on each call
// so that the package keeps no global state.
func specs() map[string]*spec {
	match := map[string]tagSpec{
		"is":         {group: groupMatch},
		"contains":   {group: groupMatch},
		"matches":    {group: groupMatch},
		"count":      {value: vString, group: groupMatch, ext: extRelational},
		"value":      {value: vString, group: groupMatch, ext: extRelational},
		"comparator": {value: vString, group: groupComparator},
	}
	addressPart := map[string]tagSpec{
		"localpart": {group: groupAddressPart},
		"domain":    {group: groupAddressPart},
		"all":       {group: groupAddressPart},
		"user":      {group: groupAddressPart, ext: extSubaddress},
		"detail":    {group: groupAddressPart, ext: extSubaddress},
	}
	index := map[string]tagSpec{
		"index": {value: vNumber, group: groupIndex, ext: extIndex},
		"last":  {ext: extIndex},
	}
	return map[string]*spec{
		// Control commands (RFC 5228 section 3).
		"require": {positional: []valueType{vStringList}},
		"if":      {tests: oneTest, block: true},
		"elsif":   {tests: oneTest, block: true},
		"else":    {block: true},
		"stop":    {},
		// Actions (RFC 5228 section 4 and extensions).
		"keep":    {tags: map[string]tagSpec{"flags": {value: vStringList, ext: extImap4flags}}},
		"discard": {},
		"fileinto": {ext: extFileinto, positional: []valueType{vString}, tags: map[string]tagSpec{
			"copy":   {ext: extCopy},
			"flags":  {value: vStringList, ext: extImap4flags},
			"create": {ext: extMailbox},
		}},
		"redirect":   {positional: []valueType{vString}, tags: map[string]tagSpec{"copy": {ext: extCopy}}},
		"reject":     {ext: extReject, positional: []valueType{vString}},
		"ereject":    {ext: extEreject, positional: []valueType{vString}},
		"setflag":    {ext: extImap4flags, positional: []valueType{vString, vStringList}, optional: 1},
		"addflag":    {ext: extImap4flags, positional: []valueType{vString, vStringList}, optional: 1},
		"removeflag": {ext: extImap4flags, positional: []valueType{vString, vStringList}, optional: 1},
		"set": {ext: extVariables, positional: []valueType{vString, vString}, tags: map[string]tagSpec{
			"lower":         {group: groupCase},
			"upper":         {group: groupCase},
			"lowerfirst":    {group: groupFirst},
			"upperfirst":    {group: groupFirst},
			"quotewildcard": {},
			"length":        {},
		}},
		"vacation": {ext: extVacation, positional: []valueType{vString}, tags: map[string]tagSpec{
			"days":      {value: vNumber},
			"subject":   {value: vString},
			"from":      {value: vString},
			"addresses": {value: vStringList},
			"mime":      {},
			"handle":    {value: vString},
		}},
		// Tests (RFC 5228 section 5 and extensions).
		"address":  {test: true, tags: merge(match, addressPart, index), positional: []valueType{vStringList, vStringList}},
		"envelope": {test: true, ext: extEnvelope, tags: merge(match, addressPart), positional: []valueType{vStringList, vStringList}},
		"header":   {test: true, tags: merge(match, index), positional: []valueType{vStringList, vStringList}},
		"exists":   {test: true, positional: []valueType{vStringList}},
		"size": {test: true, positional: []valueType{vNumber}, tags: map[string]tagSpec{
			"over":  {group: groupSize},
			"under": {group: groupSize},
		}},
		"true":  {test: true},
		"false": {test: true},
		"not":   {test: true, tests: oneTest},
		"anyof": {test: true, tests: testList},
		"allof": {test: true, tests: testList},
		"body": {test: true, ext: extBody, positional: []valueType{vStringList}, tags: merge(match, map[string]tagSpec{
			"raw":     {group: groupTransform},
			"text":    {group: groupTransform},
			"content": {value: vStringList, group: groupTransform},
		})},
		"hasflag": {test: true, ext: extImap4flags, tags: match, positional: []valueType{vStringList, vStringList}, optional: 1},
		"string":  {test: true, ext: extVariables, tags: match, positional: []valueType{vStringList, vStringList}},
		"date": {test: true, ext: extDate, positional: []valueType{vString, vString, vStringList}, tags: merge(match, index, map[string]tagSpec{
			"zone":         {value: vString, group: groupZone},
			"originalzone": {group: groupZone},
		})},
		"currentdate": {test: true, ext: extDate, positional: []valueType{vString, vStringList}, tags: merge(match, map[string]tagSpec{
			"zone": {value: vString, group: groupZone},
		})},
		"mailboxexists": {test: true, ext: extMailbox, positional: []valueType{vStringList}},
	}
}
