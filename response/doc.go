// Package response shapes what the caller of the proxy receives: the JSON
// envelope ({"output": ...}) or the raw stream of the upstream answer, and the
// JSON error body {"message", "code", "status", "meta"} with its stable codes.
//
// AsError is the one mapper from an error to its status and code; WriteError
// renders it. A Responder's Modify method is meant for
// httputil.ReverseProxy.ModifyResponse, with SetMode earlier in the chain:
//
//	rs, _ := response.NewResponder(response.Config{})
//	proxy := &httputil.ReverseProxy{Rewrite: rewrite, ModifyResponse: rs.Modify,
//		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) { response.WriteError(w, err) }}
//	handler := response.SetMode(proxy)
package response
