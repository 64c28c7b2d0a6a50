module github.com/onbehalf/onbehalf

go 1.26.0

toolchain go1.27.3

require (
	github.com/go-chi/chi/v5 v5.5.0
	github.com/gorilla/mux v1.8.1
	github.com/lestrrat-go/jwx/v2 v2.1.7
	github.com/patrickmn/go-cache v2.1.0+incompatible
	golang.org/x/oauth2 v0.38.0
	golang.org/x/sync v0.25.0
	golang.org/x/time v0.16.0
)
