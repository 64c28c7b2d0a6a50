package upstream

import "testing"

// TestDefaultMaxConcurrent: a zero MaxConcurrent bounds the requests in
// flight at DefaultMaxConcurrent (an unbounded default lets a flood of slow
// upstream calls exhaust memory and descriptors); a negative one means none.
func TestDefaultMaxConcurrent(t *testing.T) {
	f, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if f.busy == nil || !f.busy.TryAcquire(DefaultMaxConcurrent) || f.busy.TryAcquire(1) {
		t.Fatalf("zero MaxConcurrent: want a bound of exactly %d", DefaultMaxConcurrent)
	}
	if f, err = New(Config{MaxConcurrent: -1}); err != nil || f.busy != nil {
		t.Fatalf("negative MaxConcurrent: got busy %v, err %v; want no bound", f.busy, err)
	}
}
