package main

import "github.com/onbehalf/onbehalf/middleware"

// disableTokenCache turns the cache of verified user tokens off, to measure
// what it saves (-token-cache=false).
func disableTokenCache(cfg *middleware.Config) { cfg.Auth.CacheSize = -1 }
