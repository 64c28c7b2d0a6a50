package lifecycle

import (
	"context"
	"errors"
	"sync"

	"github.com/onbehalf/onbehalf/tokens"
)

// RefreshHooks returns funcs for tokens.RefresherConfig's OnRefresh and
// OnRefreshFailed that emit through e:
//
//   - a successful refresh: TypeRefreshed; and TypeRecovered (Reason
//     "refreshed") when this process had seen the connection failing;
//   - a failure that needs re-authorization: TypeReauthRequired, Reason
//     tokens.ReasonRefreshLost or tokens.ReasonGrantRejected;
//   - a transient failure: TypeRefreshFailing (Reason "refresh_failed" or
//     "refresh_timeout"), once per episode: further failures of a connection
//     already failing emit nothing until it recovers or needs
//     re-authorization.
//
// What "failing" means is kept in this process's memory, for connections that
// are failing only: across replicas, each may send its own TypeRefreshFailing
// (receivers de-duplicate by connection if they care). The hooks run in the
// refresh, so their Outbox write is bounded by EmitterConfig.Timeout; a
// failed write is logged.
//
//	onRefresh, onFailed := lifecycle.RefreshHooks(emitter)
//	refresher, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store,
//		OnRefresh: onRefresh, OnRefreshFailed: onFailed})
func RefreshHooks(e *Emitter) (onRefresh func(tokens.RefreshEvent), onRefreshFailed func(tokens.RefreshEvent, error)) {
	var mu sync.Mutex
	failing := map[tokens.Key]bool{}
	onRefresh = func(re tokens.RefreshEvent) {
		mu.Lock()
		was := failing[re.Key]
		delete(failing, re.Key)
		mu.Unlock()
		ev := eventOf(re.Key)
		ev.Type = TypeRefreshed
		e.emitLogged(context.Background(), ev)
		if was {
			ev.Type, ev.Reason = TypeRecovered, ReasonRefreshed
			e.emitLogged(context.Background(), ev)
		}
	}
	onRefreshFailed = func(re tokens.RefreshEvent, err error) {
		ev := eventOf(re.Key)
		mu.Lock()
		if re.NeedsReauth {
			delete(failing, re.Key)
			mu.Unlock()
			ev.Type, ev.Reason = TypeReauthRequired, tokens.ReasonGrantRejected
			if errors.Is(err, tokens.ErrRefreshLost) {
				ev.Reason = tokens.ReasonRefreshLost
			}
			e.emitLogged(context.Background(), ev)
			return
		}
		if failing[re.Key] {
			mu.Unlock()
			return
		}
		failing[re.Key] = true
		mu.Unlock()
		ev.Type, ev.Reason = TypeRefreshFailing, ReasonRefreshFailed
		if errors.Is(err, tokens.ErrRefreshTimeout) {
			ev.Reason = ReasonRefreshTimeout
		}
		e.emitLogged(context.Background(), ev)
	}
	return onRefresh, onRefreshFailed
}
