package connect

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"strconv"
)

//go:embed portal.html
var portalHTML string

var portalTemplate = template.Must(template.New("portal").Parse(portalHTML))

// portalData is what the page template receives.
type portalData struct {
	Nonce  string
	Config portalConfig
}

// portalConfig is handed to the page's script as JSON. It holds nothing
// secret: the user token never reaches the server with the page.
type portalConfig struct {
	Project string `json:"project"`
	// Origins may hand the page a user token by postMessage and receive its
	// events: the origins of the project's return URLs.
	Origins []string `json:"origins"`
}

// PortalCSP returns the Content-Security-Policy of the portal page for a
// script and style nonce: nothing loads from another origin, scripts and
// styles run only with the nonce, fetches go to the page's own origin, and
// only the page's own origin and the project's return-URL origins may frame it.
func (h *Handler) PortalCSP(project, nonce string) string {
	ancestors := h.portalCSP[project]
	if ancestors == "" {
		ancestors = "'self'"
	}
	return "default-src 'none'; script-src 'nonce-" + nonce + "'; style-src 'nonce-" + nonce + "'; " +
		"connect-src 'self'; img-src 'self' data:; form-action 'none'; base-uri 'none'; frame-ancestors " + ancestors
}

// portal serves GET portal: the Connect Portal page. It needs no user token:
// the host app hands one to the page in the URL fragment (#token=..., never
// sent to a server) or by postMessage, and the page keeps it in memory.
func (h *Handler) portal(w http.ResponseWriter, r *http.Request, rt route) {
	nonce := randomToken(18)
	var buf bytes.Buffer
	if err := portalTemplate.Execute(&buf, portalData{Nonce: nonce,
		Config: portalConfig{Project: rt.project, Origins: h.origins(rt.project)}}); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Length", strconv.Itoa(buf.Len()))
	hd.Set("Content-Security-Policy", h.PortalCSP(rt.project, nonce))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}
