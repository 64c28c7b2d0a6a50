package integrations

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
)

// compileDeadTokens checks cfg.DeadTokens and keeps them with their body
// texts lower-cased.
func (in *Integration) compileDeadTokens() error {
	for i, d := range in.cfg.DeadTokens {
		if d.Status < 400 || d.Status > 599 {
			return cfgErr(fmt.Sprintf("deadTokens[%d].status", i), "%d is not 4xx or 5xx", d.Status)
		}
		if len(d.BodyContains) > MaxPeek {
			return cfgErr(fmt.Sprintf("deadTokens[%d].bodyContains", i), "longer than the %d bytes of a body that are read", MaxPeek)
		}
		d.BodyContains = strings.ToLower(d.BodyContains)
		in.deadTokens = append(in.deadTokens, d)
	}
	return nil
}

// DeadToken reports whether an answer of status means the access token is
// dead, so that the credential stage refreshes once and replays once: true
// for 401, and for a status Config.DeadTokens lists without a body text.
// needBody reports that the answer is dead only if its body holds a text:
// then call DeadTokenBody with up to MaxPeek bytes of it.
func (in *Integration) DeadToken(status int) (dead, needBody bool) {
	if status == http.StatusUnauthorized {
		return true, false
	}
	for _, d := range in.deadTokens {
		if d.Status == status {
			if d.BodyContains == "" {
				return true, false
			}
			needBody = true
		}
	}
	return false, needBody
}

// DeadTokenBody reports whether an answer of status whose body starts with
// body means the access token is dead. Body texts match without regard to
// case.
func (in *Integration) DeadTokenBody(status int, body []byte) bool {
	if dead, _ := in.DeadToken(status); dead {
		return true
	}
	lower := bytes.ToLower(body)
	for _, d := range in.deadTokens {
		if d.Status == status && d.BodyContains != "" && bytes.Contains(lower, []byte(d.BodyContains)) {
			return true
		}
	}
	return false
}
