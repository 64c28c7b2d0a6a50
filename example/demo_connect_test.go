package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/onbehalftest"
)

// TestDemoPortal follows the banner's portal story without a browser: the
// PORTAL page loads, demo-user-2 (TOKEN2) is not connected, connects through
// TaskLab's consent page, and then the proxy works with TOKEN2.
func TestDemoPortal(t *testing.T) {
	d, err := newDemo(slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	srv := httptest.NewServer(d.server.handler)
	defer srv.Close()
	defer d.server.close()
	var out bytes.Buffer
	d.printBanner(&out, srv.URL)
	banner := out.String()
	portal := regexp.MustCompile(`(?m)^PORTAL=(\S+)$`).FindStringSubmatch(banner)
	token2 := regexp.MustCompile(`(?m)^TOKEN2=(\S+)$`).FindStringSubmatch(banner)
	curl := regexp.MustCompile(`(?m)^#   (curl .*\$TOKEN2.*)$`).FindStringSubmatch(banner)
	if portal == nil || token2 == nil || curl == nil {
		t.Fatalf("banner lacks PORTAL=, TOKEN2= or the TOKEN2 curl:\n%s", banner)
	}
	page, frag, _ := strings.Cut(portal[1], "#")
	if page != srv.URL+"/projects/demo-project/sdk/portal" || frag != "token="+token2[1] {
		t.Fatalf("PORTAL=%s", portal[1])
	}
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("portal: %d", resp.StatusCode)
	}

	proxyCall := func() int {
		req := curlRequest(t, strings.ReplaceAll(curl[1], "$TOKEN2", token2[1]), "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := proxyCall(); st != 400 {
		t.Fatalf("TOKEN2 before connecting: %d, want 400 (not enabled)", st)
	}

	// What the portal's Connect button does: start, consent, callback.
	api := srv.URL + "/projects/demo-project/sdk"
	req, _ := http.NewRequest("POST", api+"/connect/custom.tasklab/start", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+token2[1])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var started struct{ URL string }
	_ = json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	cookies := resp.Cookies()
	cb, err := onbehalftest.Consent(started.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("GET", cb, nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err = (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 303 || loc.Query().Get("onbehalf_status") != "connected" || !strings.HasPrefix(loc.String(), page+"?") {
		t.Fatalf("callback: %d %s", resp.StatusCode, loc)
	}
	if st := proxyCall(); st != 200 {
		t.Fatalf("TOKEN2 after connecting: %d", st)
	}
}
