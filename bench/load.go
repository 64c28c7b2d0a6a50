package main

import (
	"bytes"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// hist is a log-linear latency histogram: 16 buckets per power of two of
// nanoseconds (about 3% resolution), fixed size, so recording allocates
// nothing and does not disturb the allocation counts.
type hist [1024]uint64

func bucketOf(ns uint64) int {
	if ns < 16 {
		return int(ns)
	}
	e := bits.Len64(ns) - 1
	return (e-3)*16 + int((ns>>(e-4))&15)
}

func bucketMid(i int) time.Duration {
	if i < 16 {
		return time.Duration(i)
	}
	e, sub := i/16+3, uint64(i%16)
	lo, hi := (16+sub)<<(e-4), (17+sub)<<(e-4)
	return time.Duration((lo + hi) / 2)
}

func (h *hist) add(d time.Duration) { h[bucketOf(uint64(max(d, 0)))]++ }

func (h *hist) merge(o *hist) {
	for i := range h {
		h[i] += o[i]
	}
}

func (h *hist) quantile(q float64) time.Duration {
	var total uint64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total-1)) + 1
	var seen uint64
	for i, n := range h {
		seen += n
		if seen >= rank {
			return bucketMid(i)
		}
	}
	return 0
}

// benchCase is one measured configuration.
type benchCase struct {
	key, label string
	url        string
	header     []http.Header // one per user (the user token differs)
	want       []byte        // the exact body expected
}

// result is one measured run of a case.
type result struct {
	reqs, errs    int64
	elapsed       time.Duration
	rps           float64
	p50, p99      time.Duration
	allocs, bytes float64 // per request, whole process
	cpu           float64 // process CPU time (user+system) per request, µs
}

type loadOpts struct {
	concurrency int
	duration    time.Duration
	requests    int64 // when > 0, a fixed count instead of duration
}

// check sends one request and compares the answer with what the case expects.
func check(client *http.Client, c *benchCase) error {
	req, _ := http.NewRequest(http.MethodGet, c.url, nil)
	req.Header = c.header[0].Clone()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, c.want) {
		return fmt.Errorf("%s: got %d and %d bytes (%.80q), want 200 and %d bytes", c.key, resp.StatusCode, len(body), body, len(c.want))
	}
	return nil
}

// run loads one case with o.concurrency workers and measures it. Memory
// statistics cover the whole process: the load generator, the proxy under
// test and the upstream.
func run(client *http.Client, c *benchCase, o loadOpts) result {
	var (
		wg      sync.WaitGroup
		count   atomic.Int64
		errs    atomic.Int64
		hists   = make([]hist, o.concurrency)
		reqs    = make([]*http.Request, o.concurrency)
		stop    atomic.Bool
		started = make(chan struct{})
	)
	for i := range reqs {
		reqs[i], _ = http.NewRequest(http.MethodGet, c.url, nil)
		reqs[i].Header = c.header[i%len(c.header)].Clone()
	}
	wantLen := int64(len(c.want))
	for i := range o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, req := &hists[i], reqs[i]
			<-started
			for !stop.Load() {
				if o.requests > 0 && count.Add(1) > o.requests {
					return
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || n != wantLen {
					errs.Add(1)
				}
				h.add(time.Since(t0))
				if o.requests == 0 {
					count.Add(1)
				}
			}
		}()
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := cpuTime()
	t0 := time.Now()
	close(started)
	if o.requests == 0 {
		time.Sleep(o.duration)
		stop.Store(true)
	}
	wg.Wait()
	elapsed := time.Since(t0)
	cpu1 := cpuTime()
	runtime.ReadMemStats(&m1)
	var all hist
	for i := range hists {
		all.merge(&hists[i])
	}
	n := count.Load()
	if o.requests > 0 {
		n = min(n, o.requests)
	}
	r := result{reqs: n, errs: errs.Load(), elapsed: elapsed, p50: all.quantile(0.50), p99: all.quantile(0.99)}
	if n > 0 {
		r.rps = float64(n) / elapsed.Seconds()
		r.allocs = float64(m1.Mallocs-m0.Mallocs) / float64(n)
		r.bytes = float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n)
		r.cpu = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(n)
	}
	return r
}

// cpuTime is the process's CPU time so far (user and system). Unlike
// throughput, CPU time per request barely moves when other processes load
// the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// medianOf returns the median of v (which it sorts).
func medianOf(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// median summarizes rounds: each metric's median on its own.
func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return medianOf(v)
	}
	var out result
	for _, r := range rs {
		out.reqs += r.reqs
		out.errs += r.errs
	}
	out.rps = pick(func(r result) float64 { return r.rps })
	out.p50 = time.Duration(pick(func(r result) float64 { return float64(r.p50) }))
	out.p99 = time.Duration(pick(func(r result) float64 { return float64(r.p99) }))
	out.allocs = pick(func(r result) float64 { return r.allocs })
	out.bytes = pick(func(r result) float64 { return r.bytes })
	out.cpu = pick(func(r result) float64 { return r.cpu })
	return out
}
