package response

// The exact messages of the wire contract (WIRE.md) for two common errors.

// MessageDomainInvalid is the exact message of WIRE.md for a refused host.
const MessageDomainInvalid = "This domain is invalid for the current integration"

// MessageNotEnabled is the exact message of WIRE.md for a user without a
// connection to the integration.
const MessageNotEnabled = "Integration not enabled for user."
