// Package yubin holds the files that belong to the whole project: the
// OpenAPI description of the REST API.
package yubin

import _ "embed"

// OpenAPI is openapi.yaml, the OpenAPI 3.0 description of the REST API
// served at /api/v1 (and itself served at /api/openapi.yaml).
//
//go:embed openapi.yaml
var OpenAPI []byte
