package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

// syncBuffer is a bytes.Buffer safe for the server's and the test's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "onbehalf test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestRunTLS: run serves HTTPS when tls is configured, with the header
// limit above the proxy's own (a 70 KiB user token gets the JSON 431, not
// net/http's plain-text one), and returns nil when its context ends.
func TestRunTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	prov := newProvider(t)
	signer, _ := onbehalftest.NewSigner("k1")
	cfg, e := testConfig(t, prov, signer, `{"type": "memory"}`)
	tlsJSON, _ := json.Marshal(TLSConfig{CertFile: certFile, KeyFile: keyFile})
	cfg = strings.Replace(cfg, `"publicUrl"`, `"listen": "127.0.0.1:0", "tls": `+string(tlsJSON)+`, "publicUrl"`, 1)
	path := filepath.Join(dir, "c.json")
	_ = os.WriteFile(path, []byte(cfg), 0o600)

	ctx, cancel := context.WithCancel(t.Context())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", path}, logs, logs, env(e)) }()
	var addr string
	for deadline := time.Now().Add(30 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "onbehalf listening" {
				addr = rec.Addr
			}
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("not listening:\n%s", logs.String())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("https healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP answered on a TLS listener")
	}
	req, _ := http.NewRequest("GET", "https://"+addr+"/projects/"+project+"/sdk/me", nil)
	req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", 70<<10))
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Code string }
	_ = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 431 || body.Code != "REQUEST_HEADERS_TOO_LARGE" {
		t.Fatalf("oversized header: %d %q", resp.StatusCode, body.Code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
}

// TestMigrateCommand: migrate creates the Postgres tables and exits; for
// another store type it says there is nothing to migrate.
func TestMigrateCommand(t *testing.T) {
	dsn := "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	if d := os.Getenv("ONBEHALF_PG_DSN"); d != "" {
		dsn = d
	}
	prov := newProvider(t)
	signer, _ := onbehalftest.NewSigner("k1")
	table := "onbehalf_mig_" + randHex(6)
	cfg, e := testConfig(t, prov, signer, `{"type": "postgres", "postgres": {"url": {"env": "DATABASE_URL"}, "table": "`+table+`"}}`)
	e["DATABASE_URL"] = dsn
	path := filepath.Join(t.TempDir(), "c.json")
	_ = os.WriteFile(path, []byte(cfg), 0o600)
	var out bytes.Buffer
	st, err := openStores(t.Context(), StoreConfig{Type: "postgres", Postgres: &PostgresConfig{URL: dsn, Table: table}}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	if err := st.ping(t.Context()); err != nil {
		skipOrFail(t, "Postgres", err)
	}
	t.Cleanup(func() { dropTables(dsn, table) })
	if err := run(t.Context(), []string{"migrate", "-config", path}, &out, &out, env(e)); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "migrated") {
		t.Fatalf("output %q", out.String())
	}
	// The tables exist: the metadata store answers.
	if _, err := st.metadata.Get(t.Context(), "p", "u"); err != nil {
		t.Fatalf("after migrate: %v", err)
	}
	mem, e2 := testConfig(t, prov, signer, `{"type": "memory"}`)
	_ = os.WriteFile(path, []byte(mem), 0o600)
	if err := run(t.Context(), []string{"migrate", "-config", path}, &out, &out, env(e2)); err == nil {
		t.Fatal("migrate of a memory store succeeded")
	}
}

// TestReadyzStoreDown: with the store unreachable, /readyz answers 503
// while /healthz stays 200; a proxied call answers 503 STORE_UNAVAILABLE
// and counts a store error.
func TestReadyzStoreDown(t *testing.T) {
	prov := newProvider(t)
	signer, _ := onbehalftest.NewSigner("k1")
	ln, err := net.Listen("tcp", "127.0.0.1:0") // a port that accepts nothing once closed
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	cfg, e := testConfig(t, prov, signer, `{"type": "redis", "redis": {"addr": "`+dead+`"}}`)
	l, err := parseConfig([]byte(cfg), env(e))
	if err != nil {
		t.Fatal(err)
	}
	s, err := newServer(t.Context(), l, newLogger(&syncBuffer{}, "error"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.stores.close()
	base := httptestServer(t, s.handler)
	if st, _ := call(t, "GET", base+"/healthz", "", ""); st != 200 {
		t.Fatalf("healthz: %d", st)
	}
	if st, b := call(t, "GET", base+"/readyz", "", ""); st != 503 {
		t.Fatalf("readyz with the store down: %d %s", st, b)
	}
	st, b := call(t, "GET", base+"/projects/"+project+"/sdk/proxy/"+slugKey+"/tasks", bearer(signer.MustToken(project, "u")), "")
	if st != 503 || errCode(b) != "STORE_UNAVAILABLE" {
		t.Fatalf("proxied call with the store down: %d %s", st, b)
	}
	_, b = call(t, "GET", httptestServer(t, s.metrics.handler())+"/metrics", "", "")
	if !strings.Contains(string(b), `onbehalf_store_errors_total{op="get"}`) {
		t.Fatal("the store error was not counted")
	}
}

// logAddr waits for the log line msg and returns its addr.
func logAddr(t *testing.T, logs *syncBuffer, msg string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
				return rec.Addr
			}
		}
	}
	t.Fatalf("no %q in the log:\n%s", msg, logs.String())
	return ""
}

// TestManageListen: with manage.listen, the management API is served on
// that listener only, not beside the proxy.
func TestManageListen(t *testing.T) {
	prov := newProvider(t)
	signer, _ := onbehalftest.NewSigner("k1")
	cfg, e := testConfig(t, prov, signer, `{"type": "memory"}`)
	cfg = strings.Replace(cfg, `"publicUrl"`, `"listen": "127.0.0.1:0", "publicUrl"`, 1)
	cfg = strings.Replace(cfg, `"manage": {`, `"manage": {"listen": "127.0.0.1:0", `, 1)
	path := filepath.Join(t.TempDir(), "c.json")
	_ = os.WriteFile(path, []byte(cfg), 0o600)
	ctx, cancel := context.WithCancel(t.Context())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", path}, logs, logs, env(e)) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	main, manage := logAddr(t, logs, "onbehalf listening"), logAddr(t, logs, "management API listening")
	u := "/manage/v1/projects/" + project + "/users/u/connections"
	if st, b := call(t, "GET", "http://"+manage+u, bearer(readKey), ""); st != 200 {
		t.Fatalf("management listener: %d %s", st, b)
	}
	if st, b := call(t, "GET", "http://"+main+u, bearer(readKey), ""); st != 404 {
		t.Fatalf("management API on the main listener: %d %s", st, b)
	}
	if st, _ := call(t, "GET", "http://"+main+"/healthz", "", ""); st != 200 {
		t.Fatalf("healthz: %d", st)
	}
}
