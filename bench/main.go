// Command bench measures the proxy's overhead against a bare
// httputil.ReverseProxy, on loopback, in one process:
//
//	(a) the upstream directly
//	(b) a bare httputil.ReverseProxy in front of it (the floor)
//	(c) the full onbehalf chain in JSON mode (token verification,
//	    integration lookup, connection load, guard, credential, envelope)
//	(d) the full chain in raw mode (X-Paragon-Use-Raw-Response: 1)
//
// for a JSON page of a few KB and (a, b, d) a binary file. Cases run
// interleaved for several rounds; the table shows each metric's median, and
// each ratio is the median of the ratios taken within a round.
// Allocations are the whole process's (load generator, proxy and upstream
// share it), so the proxy's own cost is the difference with (a) or (b).
//
//	go run ./bench                        # the table
//	go run ./bench -c 64 -d 5s -rounds 9  # heavier
//	go run ./bench -large                 # 1 GiB download and upload: memory stays flat
//	go run ./bench -cpuprofile cpu.out -cases c
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

var quietLog = log.New(io.Discard, "", 0)

func main() {
	var (
		concurrency = flag.Int("c", 32, "concurrent clients")
		duration    = flag.Duration("d", 2*time.Second, "duration of each case in each round")
		requests    = flag.Int64("n", 0, "requests per case per round instead of -d (0: use -d)")
		rounds      = flag.Int("rounds", 5, "rounds; cases are interleaved and the median is reported")
		warmup      = flag.Duration("warmup", 300*time.Millisecond, "warm-up of each case before the first round")
		fileSize    = flag.Int("file-bytes", 256<<10, "size of the binary file")
		users       = flag.Int("users", 1, "distinct users (user tokens and connections), used round-robin by the clients")
		cases       = flag.String("cases", "a,b,c,d,a-file,b-file,d-file", "cases to run")
		tokenCache  = flag.Bool("token-cache", true, "cache verified user tokens (AuthConfig.CacheSize); false to measure without")
		storeCache  = flag.Bool("store-cache", false, "wrap the connection store in tokens.NewCached")
		large       = flag.Bool("large", false, "run the large-body mode (download and upload of -large-bytes) instead of the table")
		largeBytes  = flag.Int64("large-bytes", 1<<30, "size of each large transfer")
		cpuprofile  = flag.String("cpuprofile", "", "write a CPU profile of the measured runs")
		memprofile  = flag.String("memprofile", "", "write an allocation profile at the end")
		timeout     = flag.Duration("timeout", 0, "Forwarder.Timeout of the chain: 0 is its default (2m), negative is none (no deadline context per request)")
		bareHeaders = flag.String("bare-headers", "same", `request headers of (a) and (b): "same" as (c) and (d) (the user token in Authorization, forwarded as is), or "plain" (Accept only)`)
	)
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *memprofile != "" {
		runtime.MemProfileRate = 64 << 10
		defer func() {
			f, err := os.Create(*memprofile)
			if err != nil {
				log.Fatal(err)
			}
			defer f.Close()
			_ = pprof.Lookup("allocs").WriteTo(f, 0)
		}()
	}
	machine()
	records := recordsJSON()
	file := make([]byte, *fileSize)
	_, _ = (&genReader{n: int64(len(file))}).Read(file)

	upBase, stopUp := serve(upstream(records, file))
	defer stopUp()
	bareBase, stopBare := serve(bareProxy(upBase))
	defer stopBare()
	e, err := newEnv(upBase, max(*users, 1), *tokenCache, *storeCache, *large, *timeout)
	if err != nil {
		log.Fatal(err)
	}
	defer e.handler.Close()
	chainBase, stopChain := serve(e.handler)
	defer stopChain()
	client := &http.Client{Transport: transport(*concurrency * 2)}

	userHeaders := func(raw bool) []http.Header {
		var hs []http.Header
		for _, tok := range e.tokens {
			h := http.Header{"Authorization": {"Bearer " + tok}, "Accept": {"application/json"}}
			if raw {
				h.Set("X-Paragon-Use-Raw-Response", "1")
			}
			hs = append(hs, h)
		}
		return hs
	}
	// The client sends (a) and (b) the same request as (c) and (d): the user
	// token in Authorization (which the bare proxy forwards as is) and, for
	// the file, the raw-mode header. The proxies then differ only in what
	// they do with it.
	plain := userHeaders(false)
	plainFile := userHeaders(true)
	switch *bareHeaders {
	case "same":
	case "plain":
		plain = []http.Header{{"Accept": {"application/json"}}}
		plainFile = plain
	default:
		log.Fatalf("-bare-headers: want same or plain, not %q", *bareHeaders)
	}

	if *large {
		runLarge(client, upBase, bareBase, chainBase, e, userHeaders, *largeBytes)
		return
	}

	envelope := append(append([]byte(`{"output":`), records...), '}')
	all := map[string]*benchCase{
		"a":      {key: "a", label: "(a) upstream direct, JSON", url: upBase + "/api/records?limit=20", header: plain, want: records},
		"b":      {key: "b", label: "(b) bare ReverseProxy, JSON", url: bareBase + "/api/records?limit=20", header: plain, want: records},
		"c":      {key: "c", label: "(c) onbehalf JSON mode", url: chainBase + e.proxyPath("records?limit=20"), header: userHeaders(false), want: envelope},
		"d":      {key: "d", label: "(d) onbehalf raw mode, JSON body", url: chainBase + e.proxyPath("records?limit=20"), header: userHeaders(true), want: records},
		"a-file": {key: "a-file", label: "(a) upstream direct, file", url: upBase + "/api/files/report.bin", header: plainFile, want: file},
		"b-file": {key: "b-file", label: "(b) bare ReverseProxy, file", url: bareBase + "/api/files/report.bin", header: plainFile, want: file},
		"d-file": {key: "d-file", label: "(d) onbehalf raw mode, file", url: chainBase + e.proxyPath("files/report.bin"), header: userHeaders(true), want: file},
	}
	var order []*benchCase
	for _, k := range strings.Split(*cases, ",") {
		c := all[strings.TrimSpace(k)]
		if c == nil {
			log.Fatalf("unknown case %q", k)
		}
		if err := check(client, c); err != nil {
			log.Fatalf("sanity check: %v", err)
		}
		order = append(order, c)
	}
	o := loadOpts{concurrency: *concurrency, duration: *duration, requests: *requests}
	for _, c := range order {
		run(client, c, loadOpts{concurrency: *concurrency, duration: *warmup})
	}
	per := map[string][]result{}
	for r := range *rounds {
		for i := range order {
			c := order[(i+r)%len(order)] // rotate the order so no case always runs first
			per[c.key] = append(per[c.key], run(client, c, o))
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", r+1, *rounds)
	}
	med := map[string]result{}
	for k, rs := range per {
		med[k] = median(rs)
	}
	load := fmt.Sprintf("%d clients, %s per case per round", *concurrency, *duration)
	if *requests > 0 {
		load = fmt.Sprintf("%d clients, %d requests per case per round", *concurrency, *requests)
	}
	fmt.Printf("\n%s, %d rounds interleaved, medians. JSON page %d B, file %s, %d user(s), token cache %v, store cache %v.\n\n",
		load, *rounds, len(records), human(int64(len(file))), max(*users, 1), *tokenCache, *storeCache)
	fmt.Println("| case | req/s | p50 | p99 | CPU µs/req | allocs/req | B/req | errors |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range order {
		m := med[c.key]
		fmt.Printf("| %s | %.0f | %s | %s | %.1f | %.1f | %.0f | %d |\n", c.label, m.rps, ms(m.p50), ms(m.p99), m.cpu, m.allocs, m.bytes, m.errs)
	}
	ratios(per)
}

// ratios compares cases round by round: each ratio is taken between the two
// cases' runs in the same round (seconds apart, under the same background
// load), and the table shows the median over the rounds, with the lowest
// and highest for throughput and p99.
func ratios(per map[string][]result) {
	fmt.Println()
	pair := func(name, x, base string) {
		rx, rb := per[x], per[base]
		n := min(len(rx), len(rb))
		var tput, p99, p50, cpu, dcpu, dallocs, dbytes []float64
		for i := range n {
			mx, mb := rx[i], rb[i]
			if mb.rps == 0 || mb.p99 == 0 || mb.p50 == 0 || mb.cpu == 0 {
				continue
			}
			tput = append(tput, mx.rps/mb.rps)
			p99 = append(p99, float64(mx.p99)/float64(mb.p99))
			p50 = append(p50, float64(mx.p50)/float64(mb.p50))
			cpu = append(cpu, mx.cpu/mb.cpu)
			dcpu = append(dcpu, mx.cpu-mb.cpu)
			dallocs = append(dallocs, mx.allocs-mb.allocs)
			dbytes = append(dbytes, mx.bytes-mb.bytes)
		}
		if len(tput) == 0 {
			return
		}
		span := func(v []float64) string {
			m := medianOf(v) // sorts v
			return fmt.Sprintf("%.2f× (%.2f–%.2f)", m, v[0], v[len(v)-1])
		}
		fmt.Printf("| %s | %s | %s | %.2f× | %.2f× | %+.1f | %+.1f | %+.0f |\n", name, span(tput), span(p99),
			medianOf(p50), medianOf(cpu), medianOf(dcpu), medianOf(dallocs), medianOf(dbytes))
	}
	fmt.Println("| ratio (median of per-round ratios; lowest–highest) | throughput | p99 | p50 | CPU/req | extra CPU µs/req | extra allocs/req | extra B/req |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|")
	pair("(b)/(a) bare proxy over upstream", "b", "a")
	pair("(c)/(b) JSON mode over bare proxy", "c", "b")
	pair("(d)/(b) raw mode over bare proxy", "d", "b")
	pair("(d)/(b) raw mode over bare proxy, file", "d-file", "b-file")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

// machine prints what the numbers were measured on.
func machine() {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average " + strings.Join(strings.Fields(string(b))[:3], " ")
	}
	fmt.Printf("machine: %d CPUs (GOMAXPROCS %d), %s, %s %s/%s%s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), model,
		runtime.Version(), runtime.GOOS, runtime.GOARCH, load)
	fmt.Printf("command: go run ./bench %s\n", strings.Join(os.Args[1:], " "))
}

func runLarge(client *http.Client, upBase, bareBase, chainBase string, e *env, headers func(bool) []http.Header, size int64) {
	raw := headers(true)[0]
	json := headers(false)[0]
	q := fmt.Sprintf("big?n=%d", size)
	var rs []largeResult
	rs = append(rs, measureLarge("download, (a) upstream direct", func() (int64, error) {
		return download(client, upBase+"/api/"+q, http.Header{}, size)
	}))
	rs = append(rs, measureLarge("download, (b) bare ReverseProxy", func() (int64, error) {
		return download(client, bareBase+"/api/"+q, http.Header{}, size)
	}))
	rs = append(rs, measureLarge("download, (d) onbehalf raw mode", func() (int64, error) {
		return download(client, chainBase+e.proxyPath(q), raw, size)
	}))
	rs = append(rs, measureLarge("upload, (a) upstream direct", func() (int64, error) {
		return upload(client, upBase+"/api/sink", http.Header{}, size)
	}))
	rs = append(rs, measureLarge("upload, (b) bare ReverseProxy", func() (int64, error) {
		return upload(client, bareBase+"/api/sink", http.Header{}, size)
	}))
	rs = append(rs, measureLarge("upload, (c) onbehalf JSON mode", func() (int64, error) {
		return upload(client, chainBase+e.proxyPath("sink"), json, size)
	}))
	printLarge(rs, size)
}
