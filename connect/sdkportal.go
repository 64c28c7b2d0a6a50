package connect

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

//go:embed sdkportal.html
var sdkPortalHTML string

var sdkPortalTemplate = template.Must(template.New("sdkportal").Parse(sdkPortalHTML))

// sdkPortalConfig is handed to the SDK iframe page's script as JSON. The SDK
// loads the page before it knows the project (GET /ui, no projectId), so the
// page gets each project's allowed origins and accepts a message only from
// the origins of the project the message names.
type sdkPortalConfig struct {
	Origins map[string][]string `json:"origins"`
}

// sdkPortal serves GET /ui[?projectId=]: the page the official SDK loads in
// its iframe (CONNECT_PUBLIC_URL/ui). It speaks the SDK's message protocol:
// it takes the user token from the SDK's UI_UPDATE messages (only from the
// project's ReturnURLs origins, only from its parent), shows the integration
// connect(type) opened, connects it through the connect routes, and drives
// the SDK's callbacks by SDK_FUNCTION_INVOCATION messages posted to that
// origin only.
func (h *Handler) sdkPortal(w http.ResponseWriter, r *http.Request) {
	cfg := sdkPortalConfig{Origins: map[string][]string{}}
	if p := r.URL.Query().Get("projectId"); p != "" {
		if _, ok := h.returns[p]; ok {
			cfg.Origins[p] = h.origins(p)
		}
	} else {
		for p := range h.returns {
			cfg.Origins[p] = h.origins(p)
		}
	}
	seen := map[string]bool{}
	ancestors := []string{}
	for _, list := range cfg.Origins {
		for _, o := range list {
			if !seen[o] {
				seen[o] = true
				ancestors = append(ancestors, o)
			}
		}
	}
	sort.Strings(ancestors)
	nonce := randomToken(18)
	var buf bytes.Buffer
	if err := sdkPortalTemplate.Execute(&buf, struct {
		Nonce  string
		Config sdkPortalConfig
	}{nonce, cfg}); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	page := buf.Bytes()
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(len(page)))
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+"'; "+
		"connect-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self' "+strings.Join(ancestors, " "))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(page)
	}
}
