package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/onbehalf/onbehalf/tokens"
)

// EmitterConfig configures NewEmitter. Every zero value is safe.
type EmitterConfig struct {
	// Outbox receives every event for the webhooks, before any handler is
	// called; a Dispatcher drains it. Nil means no webhooks: events go to
	// the handlers only.
	Outbox Outbox
	// OutboxTypes limits which events go to the Outbox (the handlers still
	// receive every one). Nil means every type.
	OutboxTypes []Type
	// Handlers are subscribed at construction, as if by Subscribe.
	Handlers []func(context.Context, Event)
	// Timeout bounds the Outbox write of an event whose context has no
	// deadline of its own, as in the Refresher's hooks. Zero means 5
	// seconds; negative is an error.
	Timeout time.Duration
	// Logger receives Outbox failures of the hooks (RefreshHooks,
	// ConnectionSaved, ConnectionDeleted); nil discards them. Emit returns
	// its error instead.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Emitter delivers lifecycle events: to the Outbox (for the webhooks) and
// to the subscribed Go handlers. Build it with NewEmitter. It is safe for
// concurrent use.
//
// It implements connect.EventSink (ConnectionSaved, ConnectionDeleted), and
// RefreshHooks adapts it to the Refresher's hooks.
type Emitter struct {
	outbox  Outbox
	types   map[Type]bool // nil: every type
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time

	mu       sync.RWMutex
	handlers map[int]func(context.Context, Event)
	next     int

	hooksOnce sync.Once
	onRefresh func(tokens.RefreshEvent)
	onFailed  func(tokens.RefreshEvent, error)
}

// NewEmitter checks cfg and returns an Emitter.
func NewEmitter(cfg EmitterConfig) (*Emitter, error) {
	if cfg.Timeout < 0 {
		return nil, errors.New("lifecycle: negative EmitterConfig.Timeout")
	}
	e := &Emitter{outbox: cfg.Outbox, timeout: cfg.Timeout, log: cfg.Logger, now: cfg.Now,
		handlers: map[int]func(context.Context, Event){}}
	if cfg.OutboxTypes != nil {
		e.types = map[Type]bool{}
		for _, t := range cfg.OutboxTypes {
			if !slices.Contains(Types, t) {
				return nil, fmt.Errorf("lifecycle: EmitterConfig.OutboxTypes: unknown type %q", t)
			}
			e.types[t] = true
		}
	}
	if e.timeout == 0 {
		e.timeout = 5 * time.Second
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	for _, h := range cfg.Handlers {
		if h == nil {
			return nil, errors.New("lifecycle: EmitterConfig.Handlers holds a nil func")
		}
		e.Subscribe(h)
	}
	return e, nil
}

// Subscribe adds fn to the handlers, which Emit calls in turn, in the
// emitting goroutine (a request's, a refresh's), after the Outbox write: keep
// them quick and hand slow work to a goroutine of your own. The returned func
// removes fn. A handler is called at most once per Emit; unlike a webhook,
// it is not retried and does not outlive a crash.
func (e *Emitter) Subscribe(fn func(context.Context, Event)) (unsubscribe func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id := e.next
	e.next++
	e.handlers[id] = fn
	return func() {
		e.mu.Lock()
		delete(e.handlers, id)
		e.mu.Unlock()
	}
}

// Emit fills ev's ID and Time when unset, writes it to the Outbox (when
// there is one and the type is selected), then calls every handler. It
// returns the Outbox's error (the handlers are called all the same), or an
// error for an unknown Type.
func (e *Emitter) Emit(ctx context.Context, ev Event) error {
	if !slices.Contains(Types, ev.Type) {
		return fmt.Errorf("lifecycle: unknown event type %q", ev.Type)
	}
	if ev.ID == "" {
		ev.ID = NewEventID()
	}
	if ev.Time.IsZero() {
		ev.Time = e.now()
	}
	ev.Time = ev.Time.UTC().Round(0)
	var err error
	if e.outbox != nil && (e.types == nil || e.types[ev.Type]) {
		octx := ctx
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			octx, cancel = context.WithTimeout(ctx, e.timeout)
			defer cancel()
		}
		if err = e.outbox.Add(octx, ev); err != nil {
			err = fmt.Errorf("lifecycle: outbox: %w", err)
		}
	}
	e.mu.RLock()
	ids := make([]int, 0, len(e.handlers))
	for id := range e.handlers {
		ids = append(ids, id)
	}
	slices.Sort(ids) // subscription order
	hs := make([]func(context.Context, Event), len(ids))
	for i, id := range ids {
		hs[i] = e.handlers[id]
	}
	e.mu.RUnlock()
	for _, h := range hs {
		h(ctx, ev)
	}
	return err
}

// emitLogged emits ev, logging an error rather than returning it: for hooks
// whose caller has nothing to do with it.
func (e *Emitter) emitLogged(ctx context.Context, ev Event) {
	if err := e.Emit(ctx, ev); err != nil {
		e.log.Warn("lifecycle: event not written to the outbox", "type", string(ev.Type),
			"connection", keyOf(ev).String(), "event", ev.ID, "err", err)
	}
}

// ConnectionSaved emits the event of a save by the connect flow: c is the
// connection as saved, created reports whether it was new, and previous is
// its status before the save. A new connection, or a replaced active one
// (Reason "reconnected"), is TypeCreated; one that was not active is
// TypeRecovered. It implements connect.EventSink.
func (e *Emitter) ConnectionSaved(ctx context.Context, c *tokens.Connection, created bool, previous tokens.Status) error {
	ev := eventOf(c.Key())
	switch {
	case created:
		ev.Type = TypeCreated
	case previous != "" && previous != tokens.StatusActive:
		ev.Type, ev.Reason = TypeRecovered, ReasonReconnected
	default:
		ev.Type, ev.Reason = TypeCreated, ReasonReconnected
	}
	return e.Emit(ctx, ev)
}

// ConnectionDeleted emits TypeDeleted for c, which the connect flow has
// deleted. It implements connect.EventSink.
func (e *Emitter) ConnectionDeleted(ctx context.Context, c *tokens.Connection) error {
	ev := eventOf(c.Key())
	ev.Type = TypeDeleted
	return e.Emit(ctx, ev)
}

// ConnectFailed emits TypeConnectFailed with code as its Reason: a connect
// attempt of user that failed after the provider's callback. It implements
// connect.FailureSink, so an Emitter given as connect.Config.Events reports
// failed connections to the host app too.
func (e *Emitter) ConnectFailed(ctx context.Context, project, user, integration, code string) error {
	return e.Emit(ctx, Event{Type: TypeConnectFailed, Reason: code, Project: project, User: user, Integration: integration})
}

// VerificationFailed emits TypeVerificationFailed for the connection k
// names, with reason, a stable code of the checker's choosing.
func (e *Emitter) VerificationFailed(ctx context.Context, k tokens.Key, reason string) error {
	ev := eventOf(k)
	ev.Type, ev.Reason = TypeVerificationFailed, reason
	return e.Emit(ctx, ev)
}

// Recovered emits TypeRecovered for the connection k names, with reason
// (such as ReasonVerified).
func (e *Emitter) Recovered(ctx context.Context, k tokens.Key, reason string) error {
	ev := eventOf(k)
	ev.Type, ev.Reason = TypeRecovered, reason
	return e.Emit(ctx, ev)
}

// RefreshHooks returns e's own pair of the package's RefreshHooks, made
// once: every Refresher given this pair shares one memory of which
// connections are failing. middleware.Config.Events calls it to wire the
// Refresher it makes.
func (e *Emitter) RefreshHooks() (onRefresh func(tokens.RefreshEvent), onRefreshFailed func(tokens.RefreshEvent, error)) {
	e.hooksOnce.Do(func() { e.onRefresh, e.onFailed = RefreshHooks(e) })
	return e.onRefresh, e.onFailed
}

func eventOf(k tokens.Key) Event {
	return Event{Project: k.Project, User: k.User, Integration: k.Integration, ConnectionID: k.ID}
}

func keyOf(ev Event) tokens.Key {
	return tokens.Key{Project: ev.Project, User: ev.User, Integration: ev.Integration, ID: ev.ConnectionID}
}
