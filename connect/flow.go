package connect

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/tokens"
)

// FailureSink is an optional interface of an EventSink: told of each
// connect attempt that failed after the user came back from the provider,
// with the stable code also sent to the return URL (ErrorVerificationFailed,
// ErrorLookupEmpty, ...). It is called like the EventSink's methods; user
// and integration are "" when the state was unusable.
type FailureSink interface {
	ConnectFailed(ctx context.Context, project, user, integration, code string) error
}

// outcome is where a callback or a choice sends the browser, and what it says.
type outcome struct {
	target, project, user, integration string
	code                               string // the error code; "" on success
	credentialID                       string
	connected                          bool
	page                               *chooserData // set: serve the chooser instead of redirecting
}

func (o *outcome) fail(code string) { o.code = code }

// failErr maps an error of the flow's steps to its stable code.
func (o *outcome) failErr(h *Handler, err error) {
	var ce *integrations.CaptureError
	var le *integrations.LookupError
	var mf *integrations.MissingFieldError
	switch {
	case errors.As(err, &ce):
		o.fail(ce.Code)
	case errors.As(err, &le):
		o.fail(le.Code)
	case errors.Is(err, integrations.ErrEndpointHost):
		o.fail(ErrorEndpointNotAllowed)
	case errors.As(err, &mf):
		o.fail(ErrorCaptureMissing)
	default:
		o.fail(ErrorLookupFailed)
	}
	h.log.Warn("connect: the connection failed", "project", o.project, "integration", o.integration,
		"code", o.code, "err", safeFlowError(err))
}

// safeFlowError describes a step's error for a log line: the errors of
// integrations' flow steps name fields, paths, indexes and statuses only.
func safeFlowError(err error) string {
	var ce *integrations.CaptureError
	var le *integrations.LookupError
	var mf *integrations.MissingFieldError
	switch {
	case errors.As(err, &ce):
		return ce.Error()
	case errors.As(err, &le):
		return le.Error()
	case errors.As(err, &mf):
		return mf.Error()
	case errors.Is(err, integrations.ErrEndpointHost):
		return integrations.ErrEndpointHost.Error()
	}
	var ve *integrations.VerifyError
	if errors.As(err, &ve) {
		return ve.Error()
	}
	return tokens.DescribeError(err)
}

// finish answers a callback or a choice: the chooser page, or a 303 to the
// outcome's target with onbehalf_status, integration, error and
// credentialId. A failure is told to the FailureSink.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, o *outcome) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if o.page != nil {
		h.serveChooser(w, r, o)
		return
	}
	q := url.Values{"onbehalf_status": {StatusError}}
	if o.integration != "" {
		q.Set("integration", o.integration)
	}
	if o.connected {
		q.Set("onbehalf_status", StatusConnected)
		q.Set("credentialId", o.credentialID)
	} else {
		if o.code == "" {
			o.code = ErrorProvider
		}
		q.Set("error", o.code)
		h.failed(r.Context(), o)
	}
	http.Redirect(w, r, withQuery(o.target, q), http.StatusSeeOther)
}

// failed tells the FailureSink, if the EventSink is one.
func (h *Handler) failed(ctx context.Context, o *outcome) {
	fs, ok := h.events.(FailureSink)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eventTimeout)
	defer cancel()
	if err := fs.ConnectFailed(ctx, o.project, o.user, o.integration, o.code); err != nil {
		h.log.Warn("connect: the failure's event was not recorded", "project", o.project, "err", storeLog(err))
	}
}

// apiClient is the guarded client of in's lookups and verification.
func (h *Handler) apiClient(in *integrations.Integration) (*http.Client, error) {
	if c, ok := h.apiClients.Load(in); ok {
		return c.(*http.Client), nil
	}
	c, err := in.NewClient(h.resolver)
	if err != nil {
		return nil, err
	}
	actual, _ := h.apiClients.LoadOrStore(in, c)
	return actual.(*http.Client), nil
}

// proceed runs the connection's lookups from index from, then its
// verification, then saves it; a lookup whose several items the user must
// choose among stops it with the chooser (see choose).
func (h *Handler) proceed(ctx context.Context, o *outcome, st *State, in *integrations.Integration, c *tokens.Connection, from int) {
	lookups := in.Lookups()
	var client *http.Client
	if len(lookups) > from || in.Config().Verify != nil {
		var err error
		if client, err = h.apiClient(in); err != nil {
			o.failErr(h, err)
			return
		}
	}
	for i := from; i < len(lookups); i++ {
		items, err := in.RunLookup(ctx, client, c, i)
		if err != nil {
			o.failErr(h, err)
			return
		}
		if len(items) == 0 {
			continue // an optional lookup that found nothing
		}
		if len(items) > 1 && lookups[i].Choose == integrations.ChooseUser {
			h.askChoice(ctx, o, st, c, i, items)
			return
		}
		for k, v := range items[0].Fields {
			c.Fields[k] = v
		}
	}
	if in.Config().Verify != nil {
		if err := in.Verify(ctx, client, c); err != nil {
			h.log.Warn("connect: the new connection failed its verification", "project", o.project,
				"integration", o.integration, "err", safeFlowError(err))
			o.fail(ErrorVerificationFailed)
			return
		}
	}
	saved, err := h.upsert(ctx, tokens.Key{Project: c.Project, User: c.User, Integration: c.Integration, ID: c.ID}, c.Credential, c.Fields)
	if err != nil {
		h.log.Warn("connect: saving the connection failed", "project", c.Project, "integration", c.Integration, "err", storeLog(err))
		o.fail(ErrorStoreUnavailable)
		return
	}
	o.connected, o.credentialID = true, saved.ID
	h.sessionConnected(ctx, *st, saved)
}

// askChoice keeps the pending connection in the state store under a new
// key, bound to this browser, and makes the outcome the chooser page.
func (h *Handler) askChoice(ctx context.Context, o *outcome, st *State, c *tokens.Connection, lookup int, items []integrations.LookupItem) {
	value := randomToken(32)
	key := digest(value)
	next := State{Project: st.Project, User: st.User, Integration: st.Integration, CredentialID: st.CredentialID,
		Session: st.Session, ReturnURL: st.ReturnURL, Expires: h.now().Add(h.ttl),
		Pending: &Pending{Credential: c.Credential, Fields: c.Fields, Lookup: lookup, Items: items}}
	var cookie *http.Cookie
	if h.bind {
		v := randomToken(32)
		next.Browser = digest(v)
		cookie = h.cookie(st.Project, bindingCookie(key), v, int(h.ttl/time.Second), "choose")
	}
	if err := h.states.Put(ctx, key, next); err != nil {
		h.log.Warn("connect: state store failed", "project", st.Project, "err", storeLog(err))
		o.fail(ErrorStoreUnavailable)
		return
	}
	labels := make([]string, len(items))
	for i, it := range items {
		labels[i] = it.Label
		if labels[i] == "" {
			labels[i] = "Account " + strconv.Itoa(i+1)
		}
	}
	o.page = &chooserData{State: value, Labels: labels, Action: h.projectBase(st.Project) + "/connect/choose", cookie: cookie}
}

//go:embed chooser.html
var chooserHTML string

var chooserTemplate = template.Must(template.New("chooser").Parse(chooserHTML))

// chooserData is the chooser page's data: labels and indexes only, never
// an item's fields or the token.
type chooserData struct {
	Nonce, State, Action string
	Labels               []string
	cookie               *http.Cookie
}

// serveChooser writes the chooser page.
func (h *Handler) serveChooser(w http.ResponseWriter, _ *http.Request, o *outcome) {
	d := o.page
	d.Nonce = randomToken(18)
	var buf bytes.Buffer
	if err := chooserTemplate.Execute(&buf, d); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if d.cookie != nil {
		http.SetCookie(w, d.cookie)
	}
	hd := w.Header()
	ancestors := h.portalCSP[o.project]
	if ancestors == "" {
		ancestors = "'self'"
	}
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+d.Nonce+"'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors "+ancestors)
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// choose serves POST connect/choose (a form from the chooser page): the
// user's choice among a lookup's items completes the pending connection.
// Like the callback, it answers a 303 to the return URL with the outcome.
func (h *Handler) choose(w http.ResponseWriter, r *http.Request, rt route) {
	o := &outcome{target: h.PortalURL(rt.project), project: rt.project}
	defer h.finish(w, r, o)
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		o.fail(ErrorStateInvalid)
		return
	}
	st, ok := h.takeState(w, r, rt, r.PostForm.Get("state"), "choose", o)
	if !ok {
		return
	}
	p := st.Pending
	i, err := strconv.Atoi(r.PostForm.Get("item"))
	if err != nil || i < 0 || i >= len(p.Items) {
		o.fail(ErrorChoiceInvalid)
		return
	}
	in, err := h.integration(r.Context(), st.Project, st.Integration)
	if err != nil {
		o.fail(ErrorIntegrationNotFound)
		return
	}
	c := &tokens.Connection{Project: st.Project, User: st.User, Integration: st.Integration, ID: st.CredentialID,
		Credential: p.Credential, Fields: p.Fields}
	if c.Fields == nil {
		c.Fields = map[string]string{}
	}
	for k, v := range p.Items[i].Fields {
		c.Fields[k] = v
	}
	h.proceed(r.Context(), o, &st, in, c, p.Lookup+1)
}
