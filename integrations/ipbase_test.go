package integrations_test

import (
	"errors"
	"testing"

	"github.com/onbehalf/onbehalf/hosts"
	"github.com/onbehalf/onbehalf/integrations"
)

// TestIPLiteralBase: an on-premises provider at an address can be
// configured when AllowAddresses covers it; any other IP-literal base is
// refused as before.
func TestIPLiteralBase(t *testing.T) {
	cases := []struct {
		base  string
		allow []string
		ok    bool
	}{
		{"https://10.1.2.3:8443/api", []string{"10.0.0.0/8"}, true},
		{"https://[fd00::7]/api", []string{"fd00::/8"}, true},
		{"https://10.1.2.3/api", []string{"192.168.0.0/16"}, false},
		{"https://10.1.2.3/api", nil, false},
		{"https://169.254.169.254/latest", []string{"10.0.0.0/8"}, false},
	}
	for _, tc := range cases {
		_, err := integrations.New(integrations.Config{Type: "custom", Slug: "onprem", BaseURL: tc.base, AllowAddresses: tc.allow})
		if (err == nil) != tc.ok || (!tc.ok && !errors.Is(err, hosts.ErrIPLiteral)) {
			t.Errorf("%s with allowAddresses %v: %v, want ok %v", tc.base, tc.allow, err, tc.ok)
		}
	}
}
