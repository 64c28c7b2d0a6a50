// Package configfile reads the JSON config files of the example's
// standalone mode and of cmd/onbehalf the same way: strictly (unknown
// fields and trailing values refused), with every problem named by its
// JSON path ("$.projects[0].id") or, for a syntax error, by its line and
// column, so that a -check flag can print them all at once.
//
//	var cfg fileConfig
//	if err := configfile.Decode(data, &cfg); err != nil {
//		return configfile.Report(os.Stdout, err) // "$.projects[0].id: expected string, got JSON number"
//	}
//	var ps configfile.Problems
//	if cfg.Addr == "" {
//		ps.Add("$.addr", "required")
//	}
package configfile
