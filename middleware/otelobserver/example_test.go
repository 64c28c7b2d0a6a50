package otelobserver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/onbehalf/onbehalf/middleware"
	"github.com/onbehalf/onbehalf/middleware/otelobserver"
	"github.com/onbehalf/onbehalf/onbehalftest"
	"github.com/onbehalf/onbehalf/tokens"
)

// The Observer goes into middleware.Config.Observer and its refresh hooks
// into tokens.RefresherConfig. Here a ManualReader collects what one request
// and one refresh recorded.
func Example() {
	reader := sdkmetric.NewManualReader()
	obs, err := otelobserver.New(otelobserver.Config{
		MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
	})
	if err != nil {
		panic(err)
	}
	store := tokens.NewMemoryStore()
	onRefresh, onFailed := obs.RefreshHooks()
	rf, err := tokens.NewRefresher(tokens.RefresherConfig{Store: store, OnRefresh: onRefresh, OnRefreshFailed: onFailed})
	if err != nil {
		panic(err)
	}
	signer, err := onbehalftest.NewSigner("key-1")
	if err != nil {
		panic(err)
	}
	h, err := middleware.New(middleware.Config{Store: store, Refresher: rf, Observer: obs,
		Projects: []middleware.ProjectConfig{{ID: "acme", Keys: []middleware.KeyConfig{signer.KeyConfig()}}}})
	if err != nil {
		panic(err)
	}
	defer h.Close()

	// A request the handler answers itself (no such route), and a refresh
	// as the Refresher reports it.
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/nowhere", nil))
	onRefresh(tokens.RefreshEvent{Key: tokens.Key{Integration: "salesforce"}, Duration: 120 * time.Millisecond})

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		panic(err)
	}
	var names []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names = append(names, m.Name+" "+m.Unit)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Println(n)
	}
	// Output:
	// onbehalf.refresh.duration s
	// onbehalf.refreshes {refresh}
	// onbehalf.request.duration s
	// onbehalf.requests {request}
}
