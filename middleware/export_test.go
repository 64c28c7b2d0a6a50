package middleware

// CachedTokens reports how many verified tokens the Auth stage holds, for
// the cache tests.
func (a *Auth) CachedTokens() int {
	if a.cache == nil {
		return 0
	}
	return a.cache.len()
}
