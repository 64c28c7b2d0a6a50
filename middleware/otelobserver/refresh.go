package otelobserver

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/onbehalf/onbehalf/tokens"
)

// Refresh outcomes, the values of the outcome attribute of onbehalf.refreshes
// and onbehalf.refresh.duration.
const (
	OutcomeSuccess        = "success"
	OutcomeReauthRequired = "reauth_required" // the grant is gone: the user must reconnect
	OutcomeFailed         = "failed"          // a transient failure (token endpoint, timeout, store)
)

// RefreshHooks returns the hooks to set as tokens.RefresherConfig's
// OnRefresh and OnRefreshFailed. They count refreshes in onbehalf.refreshes
// and record their durations in onbehalf.refresh.duration, with the
// attributes onbehalf.integration and outcome. The error is not recorded.
//
//	onRefresh, onFailed := obs.RefreshHooks()
//	rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store,
//		OnRefresh: onRefresh, OnRefreshFailed: onFailed})
//
// and give rf to middleware.Config.Refresher.
func (o *Observer) RefreshHooks() (onRefresh func(tokens.RefreshEvent), onFailed func(tokens.RefreshEvent, error)) {
	onRefresh = func(ev tokens.RefreshEvent) { o.refreshed(ev, OutcomeSuccess) }
	onFailed = func(ev tokens.RefreshEvent, _ error) {
		if ev.NeedsReauth {
			o.refreshed(ev, OutcomeReauthRequired)
		} else {
			o.refreshed(ev, OutcomeFailed)
		}
	}
	return onRefresh, onFailed
}

// refreshed records one refresh. The hooks carry no context: the refresh
// runs detached from the requests that wait for it.
func (o *Observer) refreshed(ev tokens.RefreshEvent, outcome string) {
	set := metric.WithAttributeSet(attribute.NewSet(AttrIntegration.String(ev.Key.Integration), AttrOutcome.String(outcome)))
	o.refreshes.Add(context.Background(), 1, set)
	o.refreshDuration.Record(context.Background(), ev.Duration.Seconds(), set)
}
