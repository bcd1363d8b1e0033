package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/yubinmail/yubin/core"
	"github.com/yubinmail/yubin/internal/service"
)

// problemBase prefixes every problem type (RFC 9457).
const problemBase = "https://yubin.dev/problems/"

// Problem kinds.
const (
	kindInvalidJSON      = "invalid-json"
	kindBadRequest       = "bad-request"
	kindValidation       = "validation"
	kindUnauthorized     = "unauthorized"
	kindForbidden        = "forbidden"
	kindNotFound         = "not-found"
	kindAlreadyExists    = "already-exists"
	kindConflict         = "conflict"
	kindTooLarge         = "too-large"
	kindUnsupportedMedia = "unsupported-media-type"
	kindRateLimited      = "rate-limited"
	kindMethodNotAllowed = "method-not-allowed"
	kindInternal         = "internal"
	kindUnavailable      = "unavailable"
	// kindSecondFactor: the password was right; now the second factor.
	kindSecondFactor = "second-factor-required"
	// kindEnrolFirst: the domain or server requires a second factor the
	// user has not set up yet.
	kindEnrolFirst = "second-factor-setup-required"
)

// problemKinds gives each kind its status and title.
var problemKinds = map[string]struct {
	status int
	title  string
}{
	kindInvalidJSON:      {http.StatusBadRequest, "Malformed request body"},
	kindBadRequest:       {http.StatusBadRequest, "Bad request"},
	kindValidation:       {http.StatusUnprocessableEntity, "Invalid input"},
	kindUnauthorized:     {http.StatusUnauthorized, "Authentication required"},
	kindForbidden:        {http.StatusForbidden, "Forbidden"},
	kindNotFound:         {http.StatusNotFound, "Not found"},
	kindAlreadyExists:    {http.StatusConflict, "Already exists"},
	kindConflict:         {http.StatusConflict, "Conflict"},
	kindTooLarge:         {http.StatusRequestEntityTooLarge, "Request body too large"},
	kindUnsupportedMedia: {http.StatusUnsupportedMediaType, "Unsupported media type"},
	kindRateLimited:      {http.StatusTooManyRequests, "Too many requests"},
	kindMethodNotAllowed: {http.StatusMethodNotAllowed, "Method not allowed"},
	kindInternal:         {http.StatusInternalServerError, "Internal server error"},
	kindUnavailable:      {http.StatusServiceUnavailable, "Service unavailable"},
	kindSecondFactor:     {http.StatusUnauthorized, "Second factor required"},
	kindEnrolFirst:       {http.StatusForbidden, "Set up a second factor first"},
}

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type   string            `json:"type"`
	Title  string            `json:"title"`
	Status int               `json:"status"`
	Detail string            `json:"detail,omitempty"`
	Errors []core.FieldError `json:"errors,omitempty"`
	// Line and Column locate the error of a Sieve script that does not
	// compile (1-based; the column counts bytes).
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Challenge and Methods come with kindSecondFactor: the token that
	// POST /api/v1/auth/login/second-factor takes with the code, and the
	// kinds of code it takes.
	Challenge string   `json:"challenge,omitempty"`
	Methods   []string `json:"methods,omitempty"`
}

// newProblem returns the problem of kind with detail.
func newProblem(kind, detail string) *Problem {
	k, ok := problemKinds[kind]
	if !ok {
		kind, k = kindInternal, problemKinds[kindInternal]
	}
	return &Problem{Type: problemBase + kind, Title: k.title, Status: k.status, Detail: detail}
}

// abortProblem answers with the problem of kind and stops the handler chain.
func abortProblem(c *gin.Context, kind, detail string) {
	sendProblem(c, newProblem(kind, detail))
}

// sendProblem writes p as application/problem+json and aborts.
func sendProblem(c *gin.Context, p *Problem) {
	if p.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="yubin"`)
	}
	if p.Status == http.StatusUnprocessableEntity && p.Errors == nil {
		p.Errors = []core.FieldError{}
	}
	body, err := json.Marshal(p)
	if err != nil { // cannot happen: only strings and ints
		body = []byte(`{"type":"` + problemBase + kindInternal + `","title":"Internal server error","status":500}`)
	}
	c.Abort()
	if c.Writer.Written() {
		return
	}
	c.Data(p.Status, "application/problem+json", body)
}

// writeProblem answers with the problem an error from the service stands
// for. Unexpected errors are logged and answered with a bare 500.
func writeProblem(c *gin.Context, err error) {
	sendProblem(c, problemFor(c, err))
}

// problemFor maps an error to its problem.
func problemFor(c *gin.Context, err error) *Problem {
	var ve *core.ValidationError
	var mbe *http.MaxBytesError
	var pe *Problem
	var se *service.SieveScriptError
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.As(err, &se):
		p := newProblem(kindValidation, "the script does not compile: "+se.Error())
		p.Errors = []core.FieldError{{Field: "script", Message: se.Error()}}
		p.Line, p.Column = se.Line, se.Column
		return p
	case errors.As(err, &mbe):
		return newProblem(kindTooLarge, fmt.Sprintf("the request body exceeds %d bytes", mbe.Limit))
	case errors.As(err, &ve):
		p := newProblem(kindValidation, ve.Error())
		p.Errors = ve.Fields
		return p
	case errors.Is(err, core.ErrForbidden):
		return newProblem(kindForbidden, err.Error())
	case errors.Is(err, core.ErrAuthFailed):
		return newProblem(kindUnauthorized, "invalid credentials")
	case errors.Is(err, core.ErrNotFound):
		return newProblem(kindNotFound, err.Error())
	case errors.Is(err, core.ErrExists):
		return newProblem(kindAlreadyExists, err.Error())
	case errors.Is(err, core.ErrConflict), errors.Is(err, core.ErrOverQuota):
		return newProblem(kindConflict, err.Error())
	case errors.Is(err, core.ErrInvalid):
		return newProblem(kindValidation, err.Error())
	case errors.Is(err, core.ErrTooLarge):
		return newProblem(kindTooLarge, err.Error())
	}
	if l := loggerOf(c); l != nil {
		l.Error("API request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
	}
	return newProblem(kindInternal, "the server could not complete the request")
}

// Error makes a Problem usable as an error.
func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

// invalidJSON returns an invalid-json problem as an error.
func invalidJSON(format string, args ...any) error {
	return newProblem(kindInvalidJSON, fmt.Sprintf(format, args...))
}

// bindJSON decodes the request body, which must be one JSON object of
// application/json, into v, refusing unknown fields. On failure it answers
// with a problem and returns false.
func bindJSON(c *gin.Context, v any) bool {
	if err := decodeJSON(c.Request, v); err != nil {
		writeProblem(c, err)
		return false
	}
	return true
}

// decodeJSON is bindJSON without the answer. A body over the size limit is
// refused as too large (413) even when it is also malformed: the rest of
// a body that fails to decode is read (up to the limit) to tell.
func decodeJSON(r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return newProblem(kindUnsupportedMedia, "the request body must be application/json")
	}
	err = decodeJSONBody(r.Body, v)
	var mbe *http.MaxBytesError
	if err != nil && !errors.As(err, &mbe) {
		if _, derr := io.Copy(io.Discard, r.Body); errors.As(derr, &mbe) {
			return derr
		}
	}
	return err
}

// decodeJSONBody decodes exactly one JSON value from body into v.
func decodeJSONBody(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return invalidJSON("unexpected data after the JSON value")
	default:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return invalidJSON("unexpected data after the JSON value")
	}
}

// jsonError turns a decoding error into a problem with a clear detail.
func jsonError(err error) error {
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return err
	case errors.Is(err, io.EOF):
		return invalidJSON("the request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return invalidJSON("malformed JSON: unexpected end of input")
	case errors.As(err, &se):
		return invalidJSON("malformed JSON at byte %d: %s", se.Offset, strings.TrimPrefix(se.Error(), "json: "))
	case errors.As(err, &te):
		if te.Field == "" {
			return invalidJSON("expected %s, got %s", jsonTypeName(te.Type), te.Value)
		}
		return invalidJSON("field %s: expected %s", te.Field, jsonTypeName(te.Type))
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if strings.HasPrefix(msg, "unknown field ") {
		return invalidJSON("%s", msg)
	}
	return invalidJSON("malformed JSON: %s", msg)
}

// jsonTypeName names the JSON type that decodes into t.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "a JSON object"
	}
	return t.Kind().String()
}

// pageQuery reads limit and offset from the query.
func pageQuery(c *gin.Context) (limit, offset int, err error) {
	var fields []core.FieldError
	if s := c.Query("limit"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > service.MaxPageSize {
			fields = append(fields, core.FieldError{Field: "limit", Message: "must be an integer between 1 and 1000"})
		}
		limit = n
	}
	if s := c.Query("offset"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 0 {
			fields = append(fields, core.FieldError{Field: "offset", Message: "must be a non-negative integer"})
		}
		offset = n
	}
	if fields != nil {
		return 0, 0, &core.ValidationError{Fields: fields}
	}
	return limit, offset, nil
}

// listResponse is one page of a collection.
type listResponse[T any] struct {
	Items  []T   `json:"items"`
	Total  int64 `json:"total"`
	Limit  int   `json:"limit"`
	Offset int   `json:"offset"`
}

// page returns the list response for items with the effective limit.
func page[T any](items []T, total int64, limit, offset int) listResponse[T] {
	if limit == 0 {
		limit = service.DefaultPageSize
	}
	if items == nil {
		items = []T{}
	}
	return listResponse[T]{Items: items, Total: total, Limit: limit, Offset: offset}
}
