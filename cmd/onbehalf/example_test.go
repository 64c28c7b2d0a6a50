package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

// Example_check validates a config file as `onbehalf -check -config FILE`
// does: here the shipped example, with its secrets in the environment
// (references like {"env": "SLACK_CLIENT_SECRET"} in the file).
func Example_check() {
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	env := map[string]string{"SLACK_CLIENT_SECRET": "s", "SALESFORCE_CLIENT_SECRET": "s", "DATABASE_URL": "postgres://db/onbehalf",
		"ONBEHALF_SEAL_KEY_2026_06": key, "ONBEHALF_SEAL_KEY_2026_12": key}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	err := run(context.Background(), []string{"-check", "-config", "onbehalf.example.json"}, os.Stdout, os.Stdout, getenv)
	fmt.Println(err)

	delete(env, "SLACK_CLIENT_SECRET")
	err = run(context.Background(), []string{"-check", "-config", "onbehalf.example.json"}, os.Stdout, os.Stdout, getenv)
	fmt.Println(err)
	// Output:
	// config OK
	// <nil>
	// $.projects[0].integrations[0].auth.clientSecret: environment variable SLACK_CLIENT_SECRET is not set
	// 1 problem(s) in the config
}
