package hosts_test

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"

	"github.com/onbehalf/onbehalf/hosts"
)

func ExampleResolve() {
	allow, err := hosts.NewAllowlist("*.googleapis.com")
	if err != nil {
		panic(err)
	}
	policy := &hosts.Policy{Allow: allow}
	base, _ := url.Parse("https://api.example.com/api")

	for _, ref := range []string{
		"v1/charges?limit=3",
		"files/a%20b.txt",
		"https:/sheets.googleapis.com/v4/spreadsheets", // cleaned by a router
		"https://evil.com/x",
		"../admin",
		"https://127.1/",
	} {
		target, err := hosts.Resolve(base, ref, policy)
		switch {
		case errors.Is(err, hosts.ErrHostNotAllowed), errors.Is(err, hosts.ErrIPLiteral):
			fmt.Println("403:", err)
		case err != nil:
			fmt.Println("400:", err)
		default:
			fmt.Println(target)
		}
	}
	// Output:
	// https://api.example.com/api/v1/charges?limit=3
	// https://api.example.com/api/files/a%20b.txt
	// https://sheets.googleapis.com/v4/spreadsheets
	// 403: hosts: host not allowed: "evil.com"
	// 400: hosts: path escapes the base path: dot-segment in path
	// 403: hosts: IP literal hosts are not allowed: "127.1"
}

func ExampleAllowlist_Allows() {
	allow, err := hosts.NewAllowlist("api.example.com", "*.googleapis.com")
	if err != nil {
		panic(err)
	}
	for _, host := range []string{
		"API.example.com.",
		"sheets.googleapis.com",
		"googleapis.com",
		"evilgoogleapis.com",
		"googleapis.com.evil.com",
	} {
		fmt.Println(host, allow.Allows(host))
	}
	// Output:
	// API.example.com. true
	// sheets.googleapis.com true
	// googleapis.com false
	// evilgoogleapis.com false
	// googleapis.com.evil.com false
}

func ExampleGuard_Check() {
	guard, err := hosts.NewGuard(hosts.GuardConfig{
		Allow: []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16")}, // an on-premises provider
	})
	if err != nil {
		panic(err)
	}
	for _, a := range []string{"93.184.215.14", "169.254.169.254", "::ffff:127.0.0.1", "10.20.1.2", "10.30.1.2"} {
		fmt.Println(a, guard.Check(netip.MustParseAddr(a)))
	}
	// Output:
	// 93.184.215.14 <nil>
	// 169.254.169.254 hosts: address denied: 169.254.169.254
	// ::ffff:127.0.0.1 hosts: address denied: ::ffff:127.0.0.1
	// 10.20.1.2 <nil>
	// 10.30.1.2 hosts: address denied: 10.30.1.2
}
