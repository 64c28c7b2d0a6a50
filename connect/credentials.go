package connect

import (
	"errors"
	"net/http"
	"strings"

	"github.com/onbehalf/onbehalf/integrations"
	"github.com/onbehalf/onbehalf/response"
	"github.com/onbehalf/onbehalf/tokens"
)

type credentialsRequest struct {
	APIKey       string `json:"apiKey"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	CredentialID string `json:"credentialId"` // "" : the default connection (created when absent)
	// Inputs are the integration's inputs (a Zendesk subdomain); secret
	// ones may carry the API key, user name or password instead.
	Inputs map[string]string `json:"inputs"`
}

// maxSecretLen bounds an entered key, user name or password.
const maxSecretLen = 4096

// credentials serves POST connect/{integration}/credentials: an API key or a
// user name and password for api_key and basic integrations, checked by
// Config.Validate and saved.
func (h *Handler) credentials(w http.ResponseWriter, r *http.Request, rt route) {
	user, in, err := h.userIntegration(r, rt)
	if err != nil {
		response.WriteError(w, err)
		return
	}
	var body credentialsRequest
	if err := decodeBody(r, &body); err != nil {
		response.WriteError(w, err)
		return
	}
	fields, inputCred, err := in.CheckInputs(body.Inputs)
	if err != nil {
		response.WriteError(w, inputError(err))
		return
	}
	if body.APIKey == "" {
		body.APIKey = inputCred.APIKey
	}
	if body.Username == "" && body.Password == "" {
		body.Username, body.Password = inputCred.Username, inputCred.Password
	}
	var cred tokens.Credential
	switch method(in) {
	case "api_key":
		cred.APIKey = strings.TrimSpace(body.APIKey)
		if cred.APIKey == "" || len(cred.APIKey) > maxSecretLen || body.Username != "" || body.Password != "" {
			response.WriteError(w, response.New(http.StatusBadRequest, response.CodeBadRequest, `Send {"apiKey": "..."}.`))
			return
		}
	case "basic":
		cred.Username, cred.Password = body.Username, body.Password
		if in.Config().Auth.Password != nil {
			// The user name is the API key and the password the config's.
			cred.Username = strings.TrimSpace(cred.Username)
			if cred.Username == "" || len(cred.Username) > maxSecretLen || cred.Password != "" || body.APIKey != "" {
				response.WriteError(w, response.New(http.StatusBadRequest, response.CodeBadRequest,
					`Send {"username": "<API key>"}: this integration's password is fixed.`))
				return
			}
			break
		}
		if cred.Username == "" || len(cred.Username) > maxSecretLen || len(cred.Password) > maxSecretLen || body.APIKey != "" {
			response.WriteError(w, response.New(http.StatusBadRequest, response.CodeBadRequest, `Send {"username": "...", "password": "..."}.`))
			return
		}
	default:
		response.WriteError(w, response.New(http.StatusBadRequest, response.CodeConnectUnsupported,
			"This integration does not take an API key or a password."))
		return
	}
	k := tokens.Key{Project: rt.project, User: user, Integration: in.Key(), ID: body.CredentialID}
	probe := &tokens.Connection{Project: k.Project, User: k.User, Integration: k.Integration, ID: k.ID,
		Credential: cred, Fields: fields, Status: tokens.StatusActive}
	if in.Config().Verify != nil {
		// The integration's own verification request, before anything is saved.
		client, err := h.apiClient(in)
		if err == nil {
			err = in.Verify(r.Context(), client, probe)
		}
		if err != nil {
			h.log.Warn("connect: entered credentials failed the verification", "project", k.Project,
				"integration", k.Integration, "err", safeFlowError(err))
			var mf *integrations.MissingFieldError
			if errors.As(err, &mf) {
				response.WriteError(w, response.Wrap(err, http.StatusBadRequest, CodeInputInvalid,
					"Input \""+mf.Name+"\" is required."))
				return
			}
			response.WriteError(w, response.Wrap(err, http.StatusBadRequest, CodeVerificationFailed,
				"The provider did not accept these credentials."))
			return
		}
	}
	if h.validate != nil {
		if err := h.validate(r.Context(), in, probe); err != nil {
			var re *response.Error
			if errors.As(err, &re) {
				response.WriteError(w, re)
				return
			}
			response.WriteError(w, response.Wrap(err, http.StatusBadRequest, response.CodeCredentialsRejected,
				"The provider did not accept these credentials."))
			return
		}
	}
	c, err := h.upsert(r.Context(), k, cred, fields)
	if err != nil {
		response.WriteError(w, storeError(err))
		return
	}
	response.WriteJSON(w, http.StatusCreated, map[string]any{"credentialId": c.ID, "integration": c.Integration, "status": "VALID"})
}
