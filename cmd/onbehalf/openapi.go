package main

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the management API's OpenAPI 3.1 document.
//
//go:embed openapi.json
var openAPIDoc []byte

func (m *manager) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}
