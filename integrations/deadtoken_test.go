package integrations_test

import (
	"strings"
	"testing"

	"github.com/onbehalf/onbehalf/integrations"
)

func TestDeadToken(t *testing.T) {
	in, err := integrations.New(integrations.Config{Type: "sf", BaseURL: "https://api.example.com",
		Auth:       integrations.SchemeConfig{Type: integrations.AuthOAuth2, TokenURL: "https://api.example.com/token", ClientID: "c"},
		DeadTokens: []integrations.DeadToken{{Status: 403, BodyContains: "INVALID_SESSION_ID"}, {Status: 400, BodyContains: "token revoked"}, {Status: 419}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status         int
		dead, needBody bool
	}{{401, true, false}, {419, true, false}, {403, false, true}, {400, false, true}, {404, false, false}, {200, false, false}} {
		if dead, need := in.DeadToken(tc.status); dead != tc.dead || need != tc.needBody {
			t.Errorf("DeadToken(%d) = %v, %v; want %v, %v", tc.status, dead, need, tc.dead, tc.needBody)
		}
	}
	if !in.DeadTokenBody(403, []byte(`[{"message":"Session expired or invalid","errorCode":"invalid_session_id"}]`)) {
		t.Error("a 403 with INVALID_SESSION_ID (any case) is not dead")
	}
	if in.DeadTokenBody(403, []byte(`[{"errorCode":"INSUFFICIENT_ACCESS"}]`)) {
		t.Error("a 403 without the text is dead")
	}
	if in.DeadTokenBody(400, []byte(`INVALID_SESSION_ID`)) {
		t.Error("a body text of another status matched")
	}
	if !in.DeadTokenBody(401, nil) {
		t.Error("a 401 is not dead")
	}
	// An integration without DeadTokens: 401 only.
	plain, err := integrations.New(integrations.Config{Type: "p", BaseURL: "https://api.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if dead, need := plain.DeadToken(403); dead || need {
		t.Error("403 is dead without DeadTokens")
	}
}

func TestDeadTokenConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		d    integrations.DeadToken
		want string
	}{
		{integrations.DeadToken{Status: 200}, "not 4xx or 5xx"},
		{integrations.DeadToken{Status: 0, BodyContains: "x"}, "not 4xx or 5xx"},
		{integrations.DeadToken{Status: 403, BodyContains: strings.Repeat("x", integrations.MaxPeek+1)}, "longer than"},
	} {
		_, err := integrations.New(integrations.Config{Type: "p", BaseURL: "https://api.example.com", DeadTokens: []integrations.DeadToken{tc.d}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want %q", tc.d, err, tc.want)
		}
	}
}
