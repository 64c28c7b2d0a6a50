package tokens

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestShutdownWaitsForTheSave(t *testing.T) {
	f := newFixture(t, -time.Minute, RefresherConfig{})
	arrived, release := make(chan struct{}), make(chan struct{})
	f.e.setAnswer(func(w http.ResponseWriter, r *http.Request, n int64) {
		close(arrived)
		<-release
		writeToken(w, "access-1", "refresh-1", time.Hour)
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = f.r.Fresh(ctx, f.stored(t), f.g, "") }()
	<-arrived
	cancel() // the caller went away; the refresh goes on

	// A deadline that ends before the token endpoint answers.
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelShort()
	if err := f.r.Shutdown(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a refresh in flight past its deadline: %v, want DeadlineExceeded", err)
	}
	// No new refresh starts.
	other := f.stored(t)
	other.ID = "c2"
	if _, err := f.r.Fresh(context.Background(), other, f.g, ""); !errors.Is(err, ErrRefresherShutDown) || !errors.Is(err, ErrRefreshFailed) {
		t.Fatalf("Fresh after Shutdown: %v, want ErrRefresherShutDown", err)
	}

	done := make(chan error, 1)
	go func() { done <- f.r.Shutdown(context.Background()) }()
	time.Sleep(20 * time.Millisecond)
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the refresh ended")
	}
	if s := f.stored(t); s.Credential.RefreshToken != "refresh-1" || s.Refreshing != nil {
		t.Fatal("Shutdown returned before the refreshed token was saved")
	}
	// A valid connection is still handed back as is.
	valid := f.stored(t)
	if got, err := f.r.Fresh(context.Background(), valid, f.g, ""); err != nil || got != valid {
		t.Fatalf("Fresh of a valid connection after Shutdown: %v", err)
	}
	if err := f.r.Shutdown(context.Background()); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}
